"""The explainer's bundle (what the static site draws without a kernel): it decodes back to the model's own
tensors within its quantisation, stays small, and stays out of the widget's text repr."""

import base64
import json

import numpy as np
import pytest
import torch
from matplotlib import colormaps

from vit_edu.analysis.forward_trace import MAP_KINDS, STAGES, explanation_maps, trace_forward
from vit_edu.widgets.vit_explainer import BUNDLE_FORMAT, ExplainerState, explainer_bundle, explainer_widget

LEVEL = 1 / 255  # one uint8 step


@pytest.fixture
def state(perturbed_vit):
    images = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    return ExplainerState(perturbed_vit(depth=3, heads=2, weight_init="timm"), images, class_names=list("abcde"),
                          names=["x", "y"])


def decode(array: dict) -> np.ndarray:
    """The bundle's array encoding, read back independently of the code that wrote it."""
    dtype = {"uint8": np.uint8, "float32": np.dtype("<f4")}[array["dtype"]]
    return np.frombuffer(base64.b64decode(array["data"]), dtype=dtype).reshape(array["shape"])


def share_of_max(values: torch.Tensor) -> np.ndarray:
    return (values / values.amax(dim=-1, keepdim=True)).clamp(0, 1).numpy()


def test_the_bundle_decodes_to_the_models_tensors(state):
    state.set_image(1).set_head(1, 1).set_stage("positions").select_patch(3)
    bundle = json.loads(json.dumps(explainer_bundle(state)))  # survives JSON as it is
    assert (state.index, state.stage, state.layer, state.head, state.patch) == (1, "positions", 1, 1, 3)
    assert bundle["format"] == BUNDLE_FORMAT and bundle["stages"] == list(STAGES)
    assert bundle["class_names"] == list("abcde") and len(bundle["images"]) == 2
    assert (bundle["num_layers"], bundle["num_heads"], bundle["num_classes"]) == (3, 2, 5)
    lut = np.rint(np.asarray(colormaps["inferno"].colors) * 255)
    np.testing.assert_array_equal(decode(bundle["colormaps"]["inferno"]), lut)
    model = state.model
    for index, image_bundle in enumerate(bundle["images"]):
        image = state.images[index]
        assert image_bundle["name"] == "xy"[index]
        assert image_bundle["grid_size"] == [4, 4] and image_bundle["patch_size"] == 4
        pixels = decode(image_bundle["pixels"]).astype(float)
        np.testing.assert_allclose(pixels / 255, image.permute(1, 2, 0).numpy(), atol=LEVEL / 2 + 1e-6)

        trace = trace_forward(model, image)
        attentions = trace.attentions.numpy()  # (L, k, T, T)
        row_max = decode(image_bundle["attention_max"])
        np.testing.assert_allclose(row_max, attentions.max(axis=-1), rtol=1e-6)
        decoded = decode(image_bundle["attention"]) / 255 * row_max[..., None]
        assert decoded.shape == (3, 2, 17, 17)
        assert np.all(np.abs(decoded - attentions) <= row_max[..., None] * LEVEL / 2 + 1e-6)

        maps = explanation_maps(model, image)
        assert set(image_bundle["maps"]) == set(MAP_KINDS)
        for kind, shape in (("raw", (3, 16)), ("rollout", (16,)), ("flow", (16,)), ("gradient", (5, 16))):
            decoded = decode(image_bundle["maps"][kind]) / 255
            assert decoded.shape == shape, kind
            np.testing.assert_allclose(decoded, share_of_max(maps[kind]), atol=LEVEL / 2 + 1e-6, err_msg=kind)

        with torch.no_grad():
            expected = model(image[None])[0].softmax(dim=-1).numpy()
        probabilities = decode(image_bundle["probabilities"])
        np.testing.assert_allclose(probabilities, expected, rtol=1e-5, atol=1e-6)
        assert image_bundle["prediction"] == int(expected.argmax())
        lens = decode(image_bundle["lens"])  # (L, K): after the last block the lens is the model's output
        assert lens.shape == (3, 5)
        np.testing.assert_allclose(lens[-1], expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(lens.sum(axis=1), 1, rtol=1e-5)


def test_the_details_are_the_states_for_the_class_token(state):
    bundle = explainer_bundle(state)
    details = bundle["images"][1]["details"]
    state.set_image(1)
    for stage in STAGES:
        if stage != "blocks":
            assert details[stage] == state.set_stage(stage).detail(), stage
    assert len(details["blocks"]) == 3 and all(len(row) == 2 for row in details["blocks"])
    for layer in range(3):
        for head in range(2):
            lines = details["blocks"][layer][head]
            assert lines[0].startswith(f"block {layer}:") and f"head {head}, the class token" in lines[2]
    assert details["embedding"][0] == "x_p E: N x D = 16 x 32"


@pytest.mark.slow
def test_a_bundle_of_four_course_images_is_small():
    from vit_edu.data.shapes import SHAPE_CLASSES
    from vit_edu.training.recipes import course_shapes, load_course_model

    shapes = course_shapes(4, seed=101)
    state = ExplainerState(load_course_model("shapes"), shapes.images, class_names=SHAPE_CLASSES)
    text = json.dumps(explainer_bundle(state), separators=(",", ":"))
    attention = 4 * 4 * 65 * 65  # L x k x T x T bytes per image, the bulk of it
    assert 4 * attention * 4 / 3 < len(text) < 600_000


def test_the_canvas_carries_the_bundle_but_not_in_its_text_repr(state, tmp_path):
    box = explainer_widget(state, save_folder=tmp_path)
    bundle = json.loads(box.canvas.bundle)
    assert bundle["format"] == BUNDLE_FORMAT and len(bundle["images"]) == 2
    assert type(box.canvas).__name__ == "ExplainerCanvas" and box.canvas.png
    assert box.canvas.keys.count("bundle") == 1  # synced with the front end, so stored with the widget state
    for text in (repr(box.canvas), repr(box)):
        assert BUNDLE_FORMAT not in text and "bundle" not in text and len(text) < 5000
    assert explainer_widget(state, save_folder=tmp_path, bundle=False).canvas.bundle == ""


def test_a_bundle_needs_a_state():
    with pytest.raises(TypeError, match="state must be an ExplainerState"):
        explainer_bundle({"images": []})


def test_the_static_explainer_words_follow_the_language_and_match_the_script_s_defaults():
    """vit_explainer.js falls back to English words for old bundles: they must be static_words() in English,
    and the Chinese words must keep the {fields} the script fills in."""
    import re
    from importlib import resources

    from vit_edu.language import fields, use_language
    from vit_edu.widgets.vit_explainer import static_words

    script = (resources.files("vit_edu.classroom") / "static" / "vit_explainer.js").read_text(encoding="utf-8")
    defaults = script[script.index("const words = Object.assign({"):script.index("}, bundle.words || {})")]
    english = static_words()
    for key, text in english.items():
        found = re.search(rf"\b{key}: ((?:\"[^\"]*\"(?:\s*\+\s*)?)+)", defaults)
        assert found, key
        assert "".join(re.findall(r'"([^"]*)"', found.group(1))) == text, key
    try:
        use_language("zh")
        chinese = static_words()
    finally:
        use_language("en")
    assert chinese.keys() == english.keys()
    for key in english:
        assert re.search(r"[\u4e00-\u9fff]", chinese[key]), key
        assert fields(chinese[key]) == fields(english[key]), key
