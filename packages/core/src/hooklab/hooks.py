"""One context-managed hook API over PyTorch's module hooks.

:class:`Hooks` wraps ``register_forward_pre_hook``, ``register_forward_hook``,
``register_full_backward_hook`` and ``register_load_state_dict_post_hook`` behind canonical hook
point names (see :mod:`hooklab.models`). Every hook a ``Hooks`` context adds is removed when the
context exits, exceptions included; hooks added by anybody else are never touched.
:func:`list_hooks` shows what is attached to a model and who attached it.

Hook functions see the *main tensor* of a point, whatever the module returns: a tensor
(transformers 5 decoder blocks), a tuple whose first element is the hidden state (transformers 4
blocks, attention modules) or a ``ModelOutput``. Returning a tensor replaces it (the rest of a tuple
is kept); returning ``None`` leaves it unchanged::

    from hooklab.hooks import Hooks, capture_activations

    with Hooks(model) as h:
        h.forward("layers.3", lambda act, hook: act * 0.5)        # edit the residual stream
        h.forward_pre("layers.0", lambda act, hook: print(act.shape))
        h.backward("layers.1.mlp", lambda gin, gout, hook: gin.clamp(-1, 1))
        model(ids)
    # all gone here, even if model(ids) raised

    with capture_activations(model, "layers.*") as cache:
        model(ids)
    cache["layers.0"].shape                                       # [batch, seq, hidden]

Signatures of hook functions:

* forward / forward_pre: ``fn(act, hook) -> Tensor | None`` (``hook`` is the
  :class:`~hooklab.models.HookPoint`). On an input point (``layers.{i}.input``) ``forward`` hooks
  the block's input with a pre hook.
* backward: ``fn(grad_input, grad_output, hook) -> Tensor | None`` — the gradients with respect to
  the module's first input and its main output; a returned tensor replaces the gradient passed on
  to the first input.
* load_state_dict_post: ``fn(module, incompatible_keys) -> None``, torch's own signature.

Pass ``raw=True`` to ``forward``/``forward_pre`` to get torch's signature
(``fn(module, args, output)`` / ``fn(module, args, kwargs)``) unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from hooklab.errors import HookPointError
from hooklab.models import HookPoint, hook_points

#: Hook kinds, as shown by :func:`list_hooks`.
KINDS = ("forward_pre", "forward", "backward", "backward_pre", "load_state_dict_post")

# The module attributes where torch keeps each kind of hook.
_DICTS = {
    "forward_pre": "_forward_pre_hooks",
    "forward": "_forward_hooks",
    "backward": "_backward_hooks",
    "backward_pre": "_backward_pre_hooks",
    "load_state_dict_post": "_load_state_dict_post_hooks",
}

class StopForward(Exception):
    """Raised by a hook to end a forward pass early (see ``Hooks.stop_after``); a ``Hooks``
    context swallows it on exit."""


# -- the main tensor of a module's input or output --------------------------------------------
def main_tensor(value: Any) -> Any:
    """The hidden-state tensor inside a module output: the value itself, the first element of a
    tuple/list, or the first value of a ``ModelOutput``/dict. Returns ``None`` when there is none."""
    import torch

    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)) and value:
        return main_tensor(value[0])
    if isinstance(value, dict) and value:
        return main_tensor(next(iter(value.values())))
    return None


def replace_main(value: Any, new: Any) -> Any:
    """``value`` with its main tensor replaced by ``new`` (same container type)."""
    import torch

    if isinstance(value, torch.Tensor) or value is None:
        return new
    if isinstance(value, tuple) and value:
        rest = value[1:]
        first = replace_main(value[0], new)
        return type(value)(first, *rest) if hasattr(value, "_fields") else (first, *rest)
    if isinstance(value, list) and value:
        return [replace_main(value[0], new), *value[1:]]
    if isinstance(value, dict) and value:
        key = next(iter(value))
        value[key] = replace_main(value[key], new)
        return value
    return new


def _input_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, str | int | None]:
    """The block's hidden-state input and where it is: positional 0 or a keyword."""
    if args:
        return args[0], 0
    for key in ("hidden_states", "x", "input", "inputs_embeds"):
        if key in kwargs:
            return kwargs[key], key
    for key, value in kwargs.items():
        if main_tensor(value) is not None:
            return value, key
    return None, None


# -- handles ----------------------------------------------------------------------------------
@dataclass
class HookHandle:
    """One hook added by a :class:`Hooks` context. ``remove()`` detaches it (idempotent)."""

    kind: str
    point: str
    path: str
    owner: str
    module: Any = field(repr=False)
    handle: Any = field(repr=False)
    fn: Callable[..., Any] = field(repr=False)
    removed: bool = False

    @property
    def id(self) -> int:
        """The torch handle id (unique in the process)."""
        return int(self.handle.id)

    def remove(self) -> None:
        if not self.removed:
            self.handle.remove()
            self.removed = True

    def __repr__(self) -> str:
        state = " removed" if self.removed else ""
        return f"<HookHandle {self.kind} {self.point!r} owner={self.owner!r}{state}>"


@dataclass(frozen=True)
class AttachedHook:
    """A row of :func:`list_hooks`: one hook function attached to one module."""

    path: str
    kind: str
    owner: str
    name: str
    id: int


class Hooks:
    """Add hooks to a model for the duration of a ``with`` block (or until :meth:`remove`).

    Example::

        with Hooks(model, owner="my-probe") as h:
            handle = h.forward("layers.{0,1}.mlp", lambda act, hook: act * 0)  # zero-ablate
            out = model(ids)
        # exactly the hooks added above are removed; the model's other hooks are kept

    Args:
        model: any ``torch.nn.Module``; canonical names need a causal LM (raw module paths work
            on any module).
        owner: shown by :func:`list_hooks` for every hook this context adds.

    Every ``add``-style method accepts a hook point spec (names, globs, sets, module paths; see
    :mod:`hooklab.models`) and returns the list of :class:`HookHandle` it added. They raise
    :class:`~hooklab.errors.HookPointError` for a spec that matches nothing.
    """

    def __init__(self, model: Any, *, owner: str = "hooklab") -> None:
        self.model = model
        self.owner = owner
        self.handles: list[HookHandle] = []
        self._points: Any = None

    # -- context --------------------------------------------------------------------------------
    def __enter__(self) -> Hooks:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        self.remove()
        return exc_type is not None and issubclass(exc_type, StopForward)

    def remove(self) -> None:
        """Remove every hook this object added (and only those); safe to call twice."""
        errors = []
        for h in reversed(self.handles):
            try:
                h.remove()
            except Exception as exc:  # keep removing the others
                errors.append(exc)
        self.handles.clear()
        if errors:
            raise errors[0]

    # -- resolution -----------------------------------------------------------------------------
    def points(self, spec: str | Iterable[str] | HookPoint) -> list[HookPoint]:
        """Resolve ``spec`` on this model (a :class:`HookPoint` is passed through)."""
        if isinstance(spec, HookPoint):
            return [spec]
        if isinstance(spec, (list, tuple)) and spec and all(isinstance(p, HookPoint) for p in spec):
            return list(spec)
        try:
            if self._points is None:
                self._points = hook_points(self.model)
            return self._points.resolve(spec)
        except HookPointError:
            raise
        except Exception:
            # not a causal LM (no block list): raw module paths still work
            modules = dict(self.model.named_modules())
            names = [spec] if isinstance(spec, str) else list(spec)
            missing = [n for n in names if n not in modules]
            if missing:
                raise
            return [HookPoint(n, n, modules[n]) for n in names]

    def _add(self, kind: str, hp: HookPoint, register: Callable[..., Any], fn: Callable[..., Any],
             user_fn: Callable[..., Any]) -> HookHandle:
        handle = register(fn)
        hh = HookHandle(kind=kind, point=hp.name, path=hp.path, owner=self.owner, module=hp.module,
                        handle=handle, fn=user_fn)
        fn.__hooklab_handle__ = hh  # type: ignore[attr-defined]  # what list_hooks reads
        self.handles.append(hh)
        return hh

    # -- hook kinds -----------------------------------------------------------------------------
    def forward(self, spec: Any, fn: Callable[..., Any], *, raw: bool = False,
                prepend: bool = False) -> list[HookHandle]:
        """Run ``fn(act, hook)`` on the output of each point (on the input of input points).

        ``fn`` may return a tensor to replace the activation. Returns the handles added.
        """
        out = []
        for hp in self.points(spec):
            if hp.io == "input":
                out.append(self._pre(hp, fn, raw=raw, prepend=prepend))
                continue
            def hook(module: Any, args: Any, output: Any, _hp: HookPoint = hp) -> Any:
                if raw:
                    return fn(module, args, output)
                act = main_tensor(output)
                new = fn(act, _hp)
                return None if new is None or new is act else replace_main(output, new)
            out.append(self._add("forward", hp, lambda h, m=hp.module: m.register_forward_hook(h, prepend=prepend), hook, fn))
        return out

    def forward_pre(self, spec: Any, fn: Callable[..., Any], *, raw: bool = False,
                    prepend: bool = False) -> list[HookHandle]:
        """Run ``fn(act, hook)`` on the (first) input of each point's module before it runs.

        ``fn`` may return a tensor to replace that input. Returns the handles added.
        """
        return [self._pre(hp, fn, raw=raw, prepend=prepend) for hp in self.points(spec)]

    def _pre(self, hp: HookPoint, fn: Callable[..., Any], *, raw: bool, prepend: bool) -> HookHandle:
        def hook(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            if raw:
                return fn(module, args, kwargs)
            value, where = _input_of(args, kwargs)
            act = main_tensor(value)
            new = fn(act, hp)
            if new is None or new is act or where is None:
                return None
            if where == 0:
                return (replace_main(args[0], new), *args[1:]), kwargs
            kwargs = dict(kwargs)
            kwargs[where] = replace_main(value, new)  # type: ignore[index]
            return args, kwargs

        return self._add("forward_pre", hp, lambda h: hp.module.register_forward_pre_hook(
            h, prepend=prepend, with_kwargs=True), hook, fn)

    def backward(self, spec: Any, fn: Callable[..., Any], *, raw: bool = False) -> list[HookHandle]:
        """Run ``fn(grad_input, grad_output, hook)`` when gradients of each point's module are
        computed (``register_full_backward_hook``).

        ``grad_input`` / ``grad_output`` are the gradients w.r.t. the module's first input and its
        main output (either may be ``None``). A returned tensor replaces the gradient passed on
        to the first input. With ``raw=True``: torch's ``fn(module, grad_input, grad_output)``.
        """
        out = []
        for hp in self.points(spec):
            def hook(module: Any, grad_input: Any, grad_output: Any, _hp: HookPoint = hp) -> Any:
                if raw:
                    return fn(module, grad_input, grad_output)
                gin = grad_input[0] if grad_input else None
                gout = grad_output[0] if grad_output else None
                new = fn(gin, gout, _hp)
                if new is None or new is gin or not grad_input:
                    return None
                return (new, *grad_input[1:])
            out.append(self._add("backward", hp, hp.module.register_full_backward_hook, hook, fn))
        return out

    def load_state_dict_post(self, fn: Callable[..., Any], spec: Any = None) -> list[HookHandle]:
        """Run ``fn(module, incompatible_keys)`` after ``load_state_dict`` loads into the model (or
        into each point's module when ``spec`` is given)."""
        if spec is None:
            targets = [HookPoint("<model>", "", self.model)]
        else:
            targets = self.points(spec)
        out = []
        for hp in targets:
            def hook(module: Any, incompatible: Any, _fn: Callable[..., Any] = fn) -> Any:
                return _fn(module, incompatible)
            out.append(self._add("load_state_dict_post", hp, hp.module.register_load_state_dict_post_hook, hook, fn))
        return out

    def add(self, spec: Any, edit: Any) -> list[HookHandle]:
        """Attach a surgery object (see :mod:`hooklab.surgery`) at ``spec``: forward edits as
        forward hooks, gradient edits as backward hooks, weight checks as state-dict post hooks."""
        kind = getattr(edit, "kind", "forward")
        if kind == "forward":
            return self.forward(spec, edit)
        if kind == "backward":
            return self.backward(spec, edit)
        if kind == "load_state_dict_post":
            return self.load_state_dict_post(edit, spec)
        raise HookPointError(f"cannot attach {type(edit).__name__}: unknown hook kind {kind!r}")

    def stop_after(self, spec: Any) -> list[HookHandle]:
        """End the forward pass right after the last of these points runs (saves the rest of the
        model, e.g. the LM head, when only activations are wanted). The ``with`` block swallows
        the :class:`StopForward` it raises; outside a ``with``, catch it yourself."""
        points = self.points(spec)
        remaining: set[str] = set()

        def hook(act: Any, hp: HookPoint) -> None:
            remaining.discard(hp.name)
            if not remaining:
                remaining.update(p.name for p in points)
                raise StopForward(hp.name)

        remaining.update(p.name for p in points)
        return self.forward(points, hook)


def list_hooks(model: Any) -> list[AttachedHook]:
    """Every module hook attached to ``model`` and its submodules.

    Returns :class:`AttachedHook` rows (module path, kind, owner, function name, id) in module
    order; ``owner`` is the ``Hooks`` owner for hooks hooklab added and ``"user"`` otherwise.
    """
    rows = []
    for path, module in model.named_modules():
        for kind, attr in _DICTS.items():
            table = getattr(module, attr, None) or {}
            for hid, fn in table.items():
                hh = getattr(fn, "__hooklab_handle__", None)
                if hh is not None:
                    rows.append(AttachedHook(path, kind, hh.owner, f"{_label(hh.fn)} @ {hh.point}", int(hid)))
                else:
                    rows.append(AttachedHook(path, kind, "user", _label(fn), int(hid)))
    return rows


def _label(fn: Any) -> str:
    name = getattr(fn, "__qualname__", None)
    return name if isinstance(name, str) else repr(fn)


def count_hooks(model: Any, owner: str | None = None) -> int:
    """How many module hooks are attached to ``model`` (only ``owner``'s when given)."""
    return sum(1 for r in list_hooks(model) if owner is None or r.owner == owner)


# -- activation capture -----------------------------------------------------------------------
class ActivationCache(dict):  # type: ignore[type-arg]
    """``{hook point name: tensor}`` of the last forward pass (or every pass with
    ``accumulate=True``: a list of tensors per name). Plain dict plus a few helpers."""

    def stack(self, name: str, dim: int = 0) -> Any:
        """With ``accumulate=True``: the tensors recorded for ``name`` concatenated along ``dim``."""
        import torch

        value = self[name]
        return torch.cat(value, dim=dim) if isinstance(value, list) else value


@contextmanager
def capture_activations(
    model: Any,
    spec: Any,
    *,
    detach: bool = True,
    device: Any = None,
    dtype: Any = None,
    accumulate: bool = False,
    retain_grad: bool = False,
    stop: bool = False,
    owner: str = "capture_activations",
) -> Iterator[ActivationCache]:
    """Record the main tensor at each hook point while the ``with`` block runs.

    Args:
        spec: hook point names, globs, sets or module paths.
        detach: store detached tensors (default); ``False`` keeps them in the autograd graph.
        device / dtype: move / cast what is stored (e.g. ``device="cpu"``, ``dtype=torch.float16``).
        accumulate: keep every forward pass (a list per name) instead of only the last one.
        retain_grad: call ``retain_grad()`` on the stored tensors (implies ``detach=False``) so
            that ``cache[name].grad`` is filled by ``backward()``.
        stop: end the forward pass after the last point (the model call then returns nothing
            useful; inside the ``with`` block, :class:`StopForward` is swallowed).

    Yields an :class:`ActivationCache`. Raises :class:`~hooklab.errors.HookPointError` for an
    unknown point. Every hook is removed on exit.
    """
    cache = ActivationCache()

    def record(act: Any, hp: HookPoint) -> None:
        if act is None:
            return
        value = act
        if retain_grad:
            if value.requires_grad:
                value.retain_grad()
        elif detach:
            value = value.detach()
        if device is not None or dtype is not None:
            value = value.to(device=device, dtype=dtype)
        if accumulate:
            cache.setdefault(hp.name, []).append(value)
        else:
            cache[hp.name] = value

    with Hooks(model, owner=owner) as h:
        h.forward(spec, record)
        if stop:
            h.stop_after(spec)
        yield cache
