"""PACS round trip: DICOMweb client (``dicomweb``), its settings (``settings``), resumable batch
drafting (``batch`` + ``journal``) and a private Orthanc for tests and benchmarks (``orthanc``).
See docs/pacs.md."""
