"""What a draft becomes on disk: DICOM SR (``sr``), text and JSON (``text``), always written atomically
(``atomic``). See docs/pacs.md."""
