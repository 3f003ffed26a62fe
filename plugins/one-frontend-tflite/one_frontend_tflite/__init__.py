"""TFLite frontend: reads .tflite models into the circle IR (what ONE's tflite2circle does)."""

from .frontend import TfliteFrontend

__all__ = ["TfliteFrontend"]
