"""Write a small image classifier as .tflite, the sample model `make demo` imports.

A Keras CNN (convolutions, depthwise convolution, pooling, dense, softmax) with seeded random
weights, converted with TensorFlow's TFLite converter; float32, no optimizations."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def build(path: Path) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    layers = tf.keras.layers
    inputs = tf.keras.Input((32, 32, 3), name="image")
    x = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(inputs)
    x = layers.DepthwiseConv2D(3, padding="same")(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU(6.0)(x)
    x = layers.Conv2D(32, 1, activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(10, activation="softmax", name="scores")(x)
    model = tf.keras.Model(inputs, outputs, name="sample_classifier")
    data = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("output", type=Path, help="the .tflite file to write")
    args = parser.parse_args()
    build(args.output)
    print(f"{args.output}: sample classifier, {args.output.stat().st_size} bytes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
