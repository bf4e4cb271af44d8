"""The bundled captures (synthetic), shipped as package data; see README.md here."""
