"""edi-cgt: streaming X12 837 interceptor for Medi-Cal cell and gene therapy claims."""

__version__ = "0.1.0"
