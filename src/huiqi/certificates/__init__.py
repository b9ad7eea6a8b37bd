"""Signed PDF certificates (Chinese and English) with a QR code, verification and a revocation list."""
