"""The appearance descriptor: pooled features of two MobileNetV2 blocks, from the classifier's own pass.

Measured on 400 scenes-dev faces, each seen twice through the CCTV degradations of a moving face
(box jitter, scale, brightness, blur, JPEG): global-average-pooled block_12_add (96 channels) and
block_15_add (160) features, each L2-normalised and concatenated, separate the same face from
other faces with ROC AUC 0.9996 (0.94 of same-face pairs above the 0.1%-false-match similarity);
the final 1280-channel pooling that the mask head reads gives 0.993 / 0.72, since fine-tuning
taught it to see masks rather than people. The descriptor costs no second network: the
exported model has two outputs, p(no_mask) and this 256-D unit vector.
"""
from __future__ import annotations

EMBEDDING_LAYERS = ("block_12_add", "block_15_add")
EMBEDDING_DIM = 96 + 160  # their channels in MobileNetV2 alpha 1.0 (checked against the model on export)


def _backbone(model):
    nested = [layer for layer in model.layers if hasattr(layer, "layers")]
    if len(nested) != 1:
        raise ValueError(f"expected one nested backbone in {model.name}, found {len(nested)}")
    return nested[0]


def with_embedding(model, layers: tuple[str, ...] = EMBEDDING_LAYERS):
    """The classifier as a two-output model: [p_no_mask (N, 1), embedding (N, D) unit vectors].

    The mask head is rebuilt from the same layer objects, so p_no_mask is unchanged bit for bit.
    """
    import keras

    backbone = _backbone(model)
    taps = keras.Model(backbone.input, [backbone.output] + [backbone.get_layer(n).output for n in layers],
                       name="backbone_taps")
    inp = keras.Input(model.input.shape[1:], name="crop_rgb")
    head = model.layers[model.layers.index(backbone) + 1:]
    x = inp
    for layer in model.layers[1:model.layers.index(backbone)]:  # the input's rescaling
        x = layer(x)
    feats, *mids = taps(x, training=False)
    for layer in head:
        feats = layer(feats, training=False) if isinstance(layer, keras.layers.Dropout) else layer(feats)
    parts = [keras.layers.UnitNormalization(name=f"unit_{n}")(keras.layers.GlobalAveragePooling2D(name=f"pool_{n}")(m))
             for n, m in zip(layers, mids)]
    emb = keras.layers.Concatenate(name="embedding_parts")(parts) if len(parts) > 1 else parts[0]
    emb = keras.layers.Rescaling(1 / len(parts) ** 0.5, name="embedding")(emb)  # unit length again
    return keras.Model(inp, [feats, emb], name=f"{model.name}_with_embedding")


def embedding_dim(model, layers: tuple[str, ...] = EMBEDDING_LAYERS) -> int:
    backbone = _backbone(model)
    return int(sum(backbone.get_layer(n).output.shape[-1] for n in layers))


def embedding_meta() -> dict:
    """The embedding's entry in a model's metadata.json."""
    return {"layers": list(EMBEDDING_LAYERS), "dim": EMBEDDING_DIM,
            "what": "appearance descriptor for tracking (models/embedding.py): pooled features of these layers, "
                    "each L2-normalised, concatenated; a unit vector"}
