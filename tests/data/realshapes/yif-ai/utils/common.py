import random
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, fields, is_dataclass
from enum import Enum, EnumMeta
from typing import get_args, get_origin, get_type_hints

import numpy as np
import torch


class IntMappedEnumMeta(EnumMeta):
    def __init__(cls, *args, **kwargs):
        super().__init__(*args, **kwargs)
        cls.int_mapping = dict(enumerate(cls, start=1))


class IntMappedEnum(Enum, metaclass=IntMappedEnumMeta):
    """An enum whose members can also be given as 1-based integers (handy for sweep configs)."""

    def __str__(self):
        return str(self.value)

    @classmethod
    def from_int(cls, value: int):
        if value not in cls.int_mapping:
            raise ValueError(f"Invalid integer value for {cls.__name__}: {value}")
        return cls.int_mapping[value]


def custom_dataclass(_cls=None, **kwargs):
    """A dataclass whose IntMappedEnum fields accept a member, its value or its integer, and whose dataclass
    fields accept a dict."""

    def wrap(cls):
        own_post_init = getattr(cls, "__post_init__", None)

        def post_init(self):
            hints = get_type_hints(cls)
            for f in fields(self):
                hint = hints[f.name]
                kind = get_args(hint)[0] if get_origin(hint) is not None and get_args(hint) else hint
                value = getattr(self, f.name)
                if isinstance(kind, type) and issubclass(kind, IntMappedEnum):
                    if isinstance(value, int):
                        setattr(self, f.name, kind.from_int(value))
                    elif isinstance(value, str):
                        setattr(self, f.name, kind(value))
                elif is_dataclass(kind) and isinstance(value, dict):
                    setattr(self, f.name, kind(**value))
            if own_post_init:
                own_post_init(self)

        cls.__post_init__ = post_init
        return dataclass(cls, **kwargs)

    return wrap if _cls is None else wrap(_cls)


def get_default_device():
    if torch.cuda.is_available():
        return "cuda"
    return "mps" if torch.backends.mps.is_available() else "cpu"


def set_random_seed(seed):
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def create_autocast_context(device_type, ptdtype):
    @contextmanager
    def autocast_context():
        ctx = nullcontext() if device_type == "cpu" else torch.amp.autocast(device_type=device_type, dtype=ptdtype)
        with ctx:
            yield

    return autocast_context
