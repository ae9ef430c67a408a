"""PACS in and out: configured nodes (`nodes`), their clients — DIMSE by pynetdicom (`dimse`), DICOMweb by
dicomweb-client (`web`) — behind one contract (`client`), the managed local cache (`cache`), retrieval into it that
resumes (`retrieve`) and sending with per-instance results (`send`). No Qt, no TensorFlow; above io, below app."""

import logging

# Below WARNING these libraries log what goes on the wire: pynetdicom every identifier of a C-FIND/C-GET/C-STORE
# (patient names and IDs), urllib3 and dicomweb_client every URL (a QIDO search's PatientName=...). Whoever uses
# viewer.pacs (the viewer, the CLI, a script) gets them at WARNING unless a level was chosen for them; the CLI holds
# them there for each command whatever was chosen (viewer.cli.main), and viewer.pacs.dimse turns pynetdicom's
# identifier dumps off even for someone who asks for its DEBUG.
NETWORK_LOGGERS = ("pynetdicom", "dicomweb_client", "urllib3")
for _name in NETWORK_LOGGERS:
    if logging.getLogger(_name).level == logging.NOTSET:
        logging.getLogger(_name).setLevel(logging.WARNING)
