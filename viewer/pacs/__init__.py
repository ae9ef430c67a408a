"""PACS in and out: configured nodes (`nodes`), their clients — DIMSE by pynetdicom (`dimse`), DICOMweb by
dicomweb-client (`web`) — behind one contract (`client`), the managed local cache (`cache`), retrieval into it that
resumes (`retrieve`) and sending with per-instance results (`send`). No Qt, no TensorFlow; above io, below app."""
