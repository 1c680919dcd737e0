"""int8 with one activation scale per token and the outlier channels kept in fp32.

ONNX Runtime's dynamic int8 gives a whole batch one activation range. In BERT-like encoders
the [CLS] token carries values 3-5x larger than any word in a few hidden channels, so every
other token is quantized with a few effective bits and 2-4% of predictions flip against
fp32. Here each Linear input ``x`` [..., K] is rewritten, with standard ONNX ops
that ORT's CPU kernels run fast, as

    x = x_out + x_in      x_out: the few channels with the largest calibrated |x|, in fp32
    s = max|x_in| / 127 per token;  q = uint8(round(x_in / s) + 128)
    y = MatMulInteger(q, W_int8, 128) * s * w_scale + [x_out, 1] @ [W[out, :]; bias]

GELU outputs (never below -0.17) are shifted to x + 0.17 >= 0 and use the whole uint8 range
(zero point 0; the shift's product with the weights is folded into the bias): the FFN output
projection's input was the largest remaining error.

Weights: symmetric int8 per output channel. On seven MiniLM rotten_tomatoes classifiers the
int8 / fp32 agreement rises from 96.3-98.2% to 99.1-99.8% for about 15% more time than the
dynamic int8 export. Gemm nodes (pooler, classifier) stay fp32.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["quantizable_inputs", "quantize_per_token"]

OUTLIER_CHANNELS = 4
_SHIFT_FLOOR = 0.25  # GELU's minimum is -0.17
_GELU_OPS = {"Erf", "Gelu", "BiasGelu", "FastGelu", "Tanh"}
_SYNTHETIC_TEXTS = 64


def quantizable_inputs(model: Any) -> dict[str, list[Any]]:
    """Activation name -> the MatMul nodes that multiply it by a 2-D fp32 initializer."""
    from onnx import TensorProto

    weights = {
        i.name: i
        for i in model.graph.initializer
        if len(i.dims) == 2 and i.data_type == TensorProto.FLOAT
    }
    found: dict[str, list[Any]] = {}
    for node in model.graph.node:
        if node.op_type == "MatMul" and node.input[1] in weights and node.input[0] not in weights:
            found.setdefault(node.input[0], []).append(node)
    return found


def _channel_absmax(
    model: Any, names: list[str], batches: list[dict[str, np.ndarray]]
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Per-channel max |x| and the overall minimum of each named activation over the
    calibration batches (fp32 run)."""
    import onnx
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    del probe.graph.output[:]
    probe.graph.output.extend(onnx.helper.make_empty_tensor_value_info(n) for n in names)
    sess = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {i.name for i in sess.get_inputs()}
    out: dict[str, np.ndarray] = {}
    low: dict[str, float] = {}
    for batch in batches:
        for name, value in zip(names, sess.run(names, {k: batch[k] for k in feeds}), strict=True):
            peak = np.abs(value).reshape(-1, value.shape[-1]).max(0)
            out[name] = np.maximum(out[name], peak) if name in out else peak
            low[name] = min(low.get(name, 0.0), float(value.min()))
    return out, low


def _bias_adds(graph: Any, matmuls: set[int], weights: dict) -> dict[int, tuple[Any, Any]]:
    """MatMul id -> (its only consumer ``Add(y, bias)``, bias) where the bias is a 1-D
    initializer: the bias then joins the outlier product and that Add pass disappears."""
    from onnx import numpy_helper

    consumers: dict[str, list[Any]] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    outputs = {o.name for o in graph.output}
    found = {}
    for n in graph.node:
        if id(n) not in matmuls or n.output[0] in outputs:
            continue
        users = consumers.get(n.output[0], [])
        if len(users) != 1 or users[0].op_type != "Add":
            continue
        add = users[0]
        other = add.input[1] if add.input[0] == n.output[0] else add.input[0]
        init = weights.get(other)
        if init is not None and len(init.dims) == 1:
            found[id(n)] = (add, numpy_helper.to_array(init))
    return found


def _gelu_outputs(graph: Any, names: set[str], depth: int = 4) -> set[str]:
    """The names among ``names`` computed by a GELU: a Gelu op, or the exporter's erf / tanh
    formula (x * 0.5 * (1 + erf(x / sqrt 2))) within ``depth`` producers."""
    producer = {o: n for n in graph.node for o in n.output}
    found = set()
    for name in names:
        frontier = [name]
        for _ in range(depth):
            nodes = [producer[t] for t in frontier if t in producer]
            if any(n.op_type in _GELU_OPS for n in nodes):
                found.add(name)
                break
            frontier = [i for n in nodes for i in n.input]
    return found


def synthetic_texts(tokenizer: Any, n: int = _SYNTHETIC_TEXTS, seed: int = 0) -> list[str]:
    """Texts of random vocabulary words: outlier channels are a property of the model, so
    they show on any input; used when no calibration texts are given."""
    rng = np.random.default_rng(seed)
    special = set(tokenizer.all_special_ids)
    vocab = [i for i in range(len(tokenizer)) if i not in special]
    return [
        tokenizer.decode(rng.choice(vocab, size=int(rng.integers(8, 40))).tolist())
        for _ in range(n)
    ]


def quantize_per_token(
    model_file: str | Path,
    batches: list[dict[str, np.ndarray]],
    outliers: int = OUTLIER_CHANNELS,
) -> int:
    """Rewrite ``model_file`` in place; ``batches`` are encoded calibration inputs that pick
    the outlier channels. Returns how many activations were quantized."""
    import onnx
    from onnx import TensorProto, numpy_helper
    from onnx import helper as oh

    model = onnx.load(str(model_file))
    graph = model.graph
    targets = quantizable_inputs(model)
    if not targets:
        raise ValueError(f"{model_file} has no MatMul with a weight matrix to quantize")
    if outliers < 0:
        raise ValueError(f"outliers must be >= 0, got {outliers}")
    peaks, lows = _channel_absmax(model, list(targets), batches) if outliers else ({}, {})
    gelu = _gelu_outputs(graph, set(targets)) if outliers else set()
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 17)
    weights = {i.name: i for i in graph.initializer}
    added: list[Any] = []

    def const(name: str, value: np.ndarray) -> str:
        added.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    one, zp = const("ptq_one", np.float32(1.0)), const("ptq_zp", np.uint8(128))
    q_max, eps = const("ptq_127", np.float32(127.0)), const("ptq_eps", np.float32(1e-12))
    u_max, zp0 = const("ptq_255", np.float32(255.0)), const("ptq_zp0", np.uint8(0))
    rewritten = {id(n) for nodes in targets.values() for n in nodes}
    biases = _bias_adds(graph, rewritten, weights) if outliers else {}
    folded = {id(add) for add, _ in biases.values()}
    prepared: dict[str, tuple[str, str, str | None, np.ndarray | None, float]] = {}
    nodes: list[Any] = []
    for node in graph.node:
        if id(node) in folded:
            continue  # its bias rides on the outlier product (a ones column)
        if id(node) not in rewritten:
            nodes.append(node)
            continue
        x = node.input[0]
        if x not in prepared:  # Q, K and V share their input: quantize it once
            p = f"ptq{len(prepared)}"
            x_in, x_out, idx = x, None, None
            if outliers:
                idx = np.sort(np.argsort(-peaks[x], kind="stable")[:outliers]).astype(np.int64)
                mask = np.ones(peaks[x].shape[0], np.float32)
                mask[idx] = 0.0
                x_in, x_out = f"{p}_in", f"{p}_out"
                nodes += [
                    oh.make_node("Mul", [x, const(f"{p}_mask", mask)], [x_in]),
                    oh.make_node("Gather", [x, const(f"{p}_idx", idx)], [f"{p}_g"], axis=-1),
                ]
            # GELU outputs (never below -0.17) use the whole uint8 range: x + shift >= 0,
            # zero point 0, and the shift's product with the weights joins the bias
            shift = -lows[x] if x in gelu and -_SHIFT_FLOOR <= lows[x] < 0 else 0.0
            source = f"{p}_abs"
            if shift:
                bump = const(f"{p}_shift", (shift * mask).astype(np.float32))
                nodes.append(oh.make_node("Add", [x_in, bump], [source]))
            else:
                nodes.append(oh.make_node("Abs", [x_in], [source]))
            if opset >= 18:
                axes = const(f"{p}_axes", np.array([-1]))
                reduce = oh.make_node("ReduceMax", [source, axes], [f"{p}_m0"])
            else:
                reduce = oh.make_node("ReduceMax", [source], [f"{p}_m0"], axes=[-1])
            nodes += [
                reduce,
                oh.make_node("Max", [f"{p}_m0", eps], [f"{p}_m"]),
                oh.make_node("Div", [u_max if shift else q_max, f"{p}_m"], [f"{p}_inv"]),
                oh.make_node("Mul", [source if shift else x_in, f"{p}_inv"], [f"{p}_xs"]),
                oh.make_node("QuantizeLinear", [f"{p}_xs", one, zp0 if shift else zp], [f"{p}_q"]),
            ]
            if outliers:  # [outlier channels, 1]: the 1 carries the folded bias
                nodes += [
                    oh.make_node("Div", [f"{p}_m", f"{p}_m"], [f"{p}_one"]),
                    oh.make_node("Concat", [f"{p}_g", f"{p}_one"], [x_out], axis=-1),
                ]
            prepared[x] = (f"{p}_q", f"{p}_m", x_out, idx, shift)
        q, token_max, x_out, idx, shift = prepared[x]
        w = numpy_helper.to_array(weights[node.input[1]]).astype(np.float32)
        w_scale = np.abs(w).max(0) / 127.0
        w_scale = np.where(w_scale > 0, w_scale, 1.0).astype(np.float32)
        k = f"ptq_{len(nodes)}"
        w_q = np.clip(np.round(w / w_scale), -127, 127).astype(np.int8)
        y = node.output[0]
        # one Mul by (token scale x column scale): ORT fuses MatMulInteger + Cast + that Mul
        # into one MatMulIntegerToFloat kernel
        nodes += [
            oh.make_node(
                "MatMulInteger", [q, const(f"{k}_w", w_q), zp0 if shift else zp], [f"{k}_acc"]
            ),
            oh.make_node("Cast", [f"{k}_acc"], [f"{k}_f"], to=TensorProto.FLOAT),
            oh.make_node(
                "Mul",
                [token_max, const(f"{k}_ws", w_scale / (255.0 if shift else 127.0))],
                [f"{k}_s"],
            ),
        ]
        if idx is None:
            nodes.append(oh.make_node("Mul", [f"{k}_f", f"{k}_s"], [y]))
            continue
        add, bias = biases.get(id(node), (None, np.zeros(w.shape[1], np.float32)))
        if shift:  # (x + shift) @ W_int8 overcounts shift x column sums of the used rows
            used = np.ones(w.shape[0], bool)
            used[idx] = False
            bias = bias - shift * (w_q[used].astype(np.float32) * w_scale).sum(0)
        side = np.concatenate([w[idx], bias[None, :].astype(np.float32)])
        nodes += [
            oh.make_node("Mul", [f"{k}_f", f"{k}_s"], [f"{k}_yq"]),
            oh.make_node("MatMul", [x_out, const(f"{k}_wo", side)], [f"{k}_yo"]),
            oh.make_node("Add", [f"{k}_yq", f"{k}_yo"], [add.output[0] if add else y]),
        ]
    del graph.node[:]
    graph.node.extend(nodes)
    used = {i for n in graph.node for i in n.input}
    kept = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept + [i for i in added if i.name in used])
    onnx.checker.check_model(model)
    onnx.save(model, str(model_file))
    return len(prepared)
