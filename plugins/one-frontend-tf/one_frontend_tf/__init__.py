"""TensorFlow frontend: SavedModel, Keras (.keras, .h5), frozen GraphDef and live TensorFlow /
Keras objects into circle, through TensorFlow's TFLite converter (what ONE's one-import-tf does)."""

from .frontend import CustomOperatorWarning, TfFrontend, custom_operators

__all__ = ["CustomOperatorWarning", "TfFrontend", "custom_operators"]
