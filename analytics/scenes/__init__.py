"""Scenes for tests and the demo, composed on real footage where possible.

Every generated scene is synthetic in part and says so in its name (`synthetic-*`):
flames are procedural, plates are rendered with a CJK font, vehicles are photographed ones
(opencv-doc's bus and estate car) moved across footage of a square.
"""
