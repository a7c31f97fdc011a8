"""The document pipeline (MongoDB): collections of documents, copied by _id and followed by a change stream."""
