"""NumPy reference optimizers: the same math as optax, used to check every JAX path."""

__all__: list[str] = []
