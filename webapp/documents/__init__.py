"""Estado de cuenta and Certificaciones y descargas: the statement, the PDFs and their public verification page."""
