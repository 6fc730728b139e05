"""The domain of Crocevia: model, ingest, conversations, events. No HTTP here."""
