"""Model surgery as small composable objects, attached with :meth:`hooklab.hooks.Hooks.add`.

Activation edits (forward hooks; on ``layers.{i}.input`` points they edit the block's input)::

    Replace(value, positions=None)   set the activation (or the chosen positions) to ``value``
    Add(vector, positions=None)      add a vector (steering), ``coeff`` scales it
    Scale(factor, positions=None)    multiply
    Zero(positions=None)             zero-ablate
    Patch(source, positions=None)    copy the activation recorded in another run (activation patching)
    a | b                            apply ``a`` then ``b`` (a :class:`Chain`)

Gradient edits (full backward hooks, on the gradient a module passes back to its input)::

    ScaleGrad(factor)                multiply the gradient
    ClipGrad(max_norm=None, max_value=None)   rescale to a maximum norm / clamp each value

Weight hooks (``load_state_dict`` post hooks)::

    ValidateWeights(finite=True, check=None)  raise ModelError when loaded weights are bad
    TransformWeights(fn)                      rewrite weights right after loading

``positions`` selects sequence positions (dimension ``-2`` of a ``[batch, seq, hidden]``
activation): an int, a list of ints, a slice or a boolean mask. Edits never modify the tensor they
receive in place, so autograd stays correct.

Example::

    from hooklab.hooks import Hooks
    from hooklab.surgery import Add, Patch, Zero

    patch = Patch.record(model, "layers.1", clean_ids)           # run once on the clean input
    with Hooks(model) as h:
        h.add("layers.1", patch)                                   # patch it into this run
        h.add("layers.{2,3}.mlp", Zero(positions=[-1]))            # ablate the last position
        h.add("layers.0", Add(steer, coeff=4.0))
        logits = model(corrupt_ids).logits
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hooklab.errors import ConfigError, ModelError
from hooklab.models import HookPoint


def _positions(positions: Any) -> Any:
    if positions is None or isinstance(positions, slice):
        return positions
    if isinstance(positions, int):
        return [positions]
    return positions


class Edit:
    """Base of activation edits: ``edit(act, hook) -> new act``. Subclasses implement
    :meth:`apply` on the selected positions."""

    kind = "forward"

    def __init__(self, positions: Any = None, dim: int = -2) -> None:
        self.positions = _positions(positions)
        self.dim = dim

    def apply(self, act: Any, hook: HookPoint) -> Any:
        raise NotImplementedError

    def __call__(self, act: Any, hook: HookPoint) -> Any:
        if act is None:
            return None
        if self.positions is None:
            return self.apply(act, hook)
        index: list[Any] = [slice(None)] * act.dim()
        index[self.dim] = self._index(act)
        index_t = tuple(index)
        new = act.clone()
        new[index_t] = self.apply_at(act, hook, index_t)
        return new

    def apply_at(self, act: Any, hook: HookPoint, index: tuple[Any, ...]) -> Any:
        """The new values of ``act[index]`` (the selected positions)."""
        return self.apply(act[index], hook)

    def _index(self, act: Any) -> Any:
        import torch

        p = self.positions
        if isinstance(p, slice):
            return p
        if isinstance(p, torch.Tensor) and p.dtype == torch.bool:
            return p
        return torch.as_tensor(list(p) if not isinstance(p, torch.Tensor) else p, device=act.device)

    def __or__(self, other: Edit) -> Chain:
        return Chain(self, other)

    def __repr__(self) -> str:
        pos = "" if self.positions is None else f", positions={self.positions!r}"
        return f"{type(self).__name__}({self._args()}{pos})"

    def _args(self) -> str:
        return ""


class Chain(Edit):
    """Apply edits one after the other (``a | b | c``)."""

    def __init__(self, *edits: Edit) -> None:
        super().__init__()
        self.edits: list[Edit] = []
        for e in edits:
            self.edits.extend(e.edits if isinstance(e, Chain) else [e])

    def __call__(self, act: Any, hook: HookPoint) -> Any:
        for e in self.edits:
            new = e(act, hook)
            act = act if new is None else new
        return act

    def __repr__(self) -> str:
        return " | ".join(map(repr, self.edits))


class Replace(Edit):
    """Set the activation (at ``positions``) to ``value`` (a tensor broadcastable to it, a number,
    or ``fn(act, hook) -> tensor``)."""

    def __init__(self, value: Any, positions: Any = None, dim: int = -2) -> None:
        super().__init__(positions, dim)
        self.value = value

    def apply(self, act: Any, hook: HookPoint) -> Any:
        import torch

        value = self.value(act, hook) if callable(self.value) else self.value
        value = torch.as_tensor(value, dtype=act.dtype, device=act.device)
        return value.expand_as(act).clone()


class Add(Edit):
    """Add ``coeff * vector`` (a steering vector, broadcast over batch and positions)."""

    def __init__(self, vector: Any, positions: Any = None, coeff: float = 1.0, dim: int = -2) -> None:
        super().__init__(positions, dim)
        self.vector, self.coeff = vector, coeff

    def apply(self, act: Any, hook: HookPoint) -> Any:
        import torch

        return act + self.coeff * torch.as_tensor(self.vector, dtype=act.dtype, device=act.device)

    def _args(self) -> str:
        return f"coeff={self.coeff}"


class Scale(Edit):
    """Multiply the activation by ``factor``."""

    def __init__(self, factor: float, positions: Any = None, dim: int = -2) -> None:
        super().__init__(positions, dim)
        self.factor = factor

    def apply(self, act: Any, hook: HookPoint) -> Any:
        return act * self.factor

    def _args(self) -> str:
        return repr(self.factor)


class Zero(Edit):
    """Zero-ablate the activation."""

    def apply(self, act: Any, hook: HookPoint) -> Any:
        return act * 0 if act.requires_grad else act.new_zeros(act.shape)


class Patch(Edit):
    """Copy activations recorded in another run into this one (activation patching).

    ``source`` is a mapping ``{hook point name: tensor}`` (e.g. an
    :class:`~hooklab.hooks.ActivationCache`) or one tensor for every point. With ``positions``,
    only those positions are copied. :meth:`record` builds one from a forward pass.

    Raises :class:`~hooklab.errors.ModelError` when the source has no activation for a point or
    its shape does not match.
    """

    def __init__(self, source: Any, positions: Any = None, dim: int = -2) -> None:
        super().__init__(positions, dim)
        self.source = source

    @classmethod
    def record(cls, model: Any, spec: Any, *args: Any, positions: Any = None, **kwargs: Any) -> Patch:
        """Run ``model(*args, **kwargs)`` without gradients, record ``spec`` and return a Patch."""
        import torch

        from hooklab.hooks import capture_activations

        with torch.no_grad(), capture_activations(model, spec) as cache:
            model(*args, **kwargs)
        return cls(dict(cache), positions=positions)

    def _src(self, act: Any, hook: HookPoint) -> Any:
        src = self.source
        if isinstance(src, Mapping):
            if hook.name not in src:
                raise ModelError(f"Patch has no recorded activation for {hook.name!r}; record it "
                                 f"with Patch.record(model, {hook.name!r}, ...)")
            src = src[hook.name]
        if tuple(src.shape) != tuple(act.shape):
            raise ModelError(f"Patch for {hook.name!r}: recorded shape {tuple(src.shape)} != "
                             f"{tuple(act.shape)}; use inputs of the same shape")
        return src.to(device=act.device, dtype=act.dtype)

    def apply(self, act: Any, hook: HookPoint) -> Any:
        return self._src(act, hook).clone()

    def apply_at(self, act: Any, hook: HookPoint, index: tuple[Any, ...]) -> Any:
        return self._src(act, hook)[index]


# -- gradients ------------------------------------------------------------------------------------
class ScaleGrad:
    """Multiply the gradient a module passes back to its input by ``factor`` (a backward hook)."""

    kind = "backward"

    def __init__(self, factor: float) -> None:
        self.factor = factor

    def __call__(self, grad_input: Any, grad_output: Any, hook: HookPoint) -> Any:
        return None if grad_input is None else grad_input * self.factor

    def __repr__(self) -> str:
        return f"ScaleGrad({self.factor})"


class ClipGrad:
    """Clip the gradient a module passes back to its input: rescale it to at most ``max_norm``
    (L2 over the whole tensor) and/or clamp each value to ``[-max_value, max_value]``."""

    kind = "backward"

    def __init__(self, max_norm: float | None = None, max_value: float | None = None) -> None:
        if max_norm is None and max_value is None:
            raise ConfigError("ClipGrad needs max_norm or max_value")
        self.max_norm, self.max_value = max_norm, max_value

    def __call__(self, grad_input: Any, grad_output: Any, hook: HookPoint) -> Any:
        if grad_input is None:
            return None
        g = grad_input
        if self.max_value is not None:
            g = g.clamp(-self.max_value, self.max_value)
        if self.max_norm is not None:
            norm = g.norm()
            if norm > self.max_norm:
                g = g * (self.max_norm / norm)
        return g

    def __repr__(self) -> str:
        return f"ClipGrad(max_norm={self.max_norm}, max_value={self.max_value})"


# -- weights after load_state_dict ---------------------------------------------------------------
class ValidateWeights:
    """A ``load_state_dict`` post hook that checks the loaded weights.

    Checks: every parameter is finite (``finite=True``), no key was missing or unexpected
    (``strict_keys=True``), and ``check(name, tensor) -> bool | str`` for each parameter (a
    string is the reason it failed). Raises :class:`~hooklab.errors.ModelError` naming the first
    bad weight.
    """

    kind = "load_state_dict_post"

    def __init__(self, finite: bool = True, check: Callable[[str, Any], Any] | None = None,
                 strict_keys: bool = False) -> None:
        self.finite, self.check, self.strict_keys = finite, check, strict_keys

    def __call__(self, module: Any, incompatible: Any) -> None:
        import torch

        if self.strict_keys and (incompatible.missing_keys or incompatible.unexpected_keys):
            raise ModelError(f"state dict does not match the model: missing {incompatible.missing_keys[:3]}, "
                             f"unexpected {incompatible.unexpected_keys[:3]}")
        for name, tensor in module.state_dict(keep_vars=True).items():
            if self.finite and tensor.is_floating_point() and not torch.isfinite(tensor).all():
                raise ModelError(f"loaded weight {name!r} has NaN/inf values; check the checkpoint")
            if self.check is not None:
                verdict = self.check(name, tensor)
                if verdict is False or isinstance(verdict, str):
                    why = verdict if isinstance(verdict, str) else "check failed"
                    raise ModelError(f"loaded weight {name!r} rejected: {why}")

    def __repr__(self) -> str:
        return f"ValidateWeights(finite={self.finite})"


class TransformWeights:
    """A ``load_state_dict`` post hook that rewrites weights right after loading:
    ``fn(name, tensor) -> tensor | None`` (``None`` keeps it). Copies in place, without grad."""

    kind = "load_state_dict_post"

    def __init__(self, fn: Callable[[str, Any], Any]) -> None:
        self.fn = fn

    def __call__(self, module: Any, incompatible: Any) -> None:
        import torch

        with torch.no_grad():
            for name, tensor in module.state_dict(keep_vars=True).items():
                new = self.fn(name, tensor)
                if new is not None and new is not tensor:
                    tensor.copy_(new)

    def __repr__(self) -> str:
        return "TransformWeights()"
