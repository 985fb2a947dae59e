"""One module per loss family, each holding the function and its `nn.Module` side by side."""
