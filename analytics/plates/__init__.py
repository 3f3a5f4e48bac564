"""Licence plates: locate on vehicle crops, read with PP-OCR, normalise Chinese plates."""
