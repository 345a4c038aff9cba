"""Visual Transformer attention (Wu et al. 2020, "Visual Transformers: Token-based Image Representation and
Processing for Computer Vision"), as compared in Table 3 of Yu et al., "Dual Contrastive Loss and Attention
for GANs" (ICCV 2021), where it replaces the C->C 3x3 convolution of StyleGAN2's 32x32 block.

With X = x reshaped to [N, C] per sample (N = H*W positions), L = ``num_tokens`` tokens of width
D = ``token_channels`` and projector key width Dk = ``key_channels``:

1. **Filter-based (static) tokenizer** (VT Sec. 3.1):

       A = softmax_N(X W_A)                 [N, L]   each token's spatial attention sums to 1 over N
       T = A^T (X W_V + b_V)                [L, D]

   W_A has no bias: a per-token constant cancels in the softmax over positions.

2. **Transformer** over the L tokens, ``num_layers`` pre-norm encoder layers (Vaswani et al. 2017,
   with LayerNorm before each sub-layer as in ViT), Keras core MultiHeadAttention with ``num_heads``
   heads of width D / num_heads:

       T <- T + MHA(LN_1(T))
       T <- T + relu(LN_2(T) W_1 + b_1) W_2 + b_2        (hidden width ``mlp_ratio`` * D)

   The VT paper writes its transformer without LayerNorm and with one head; we use the standard
   encoder layer so it trains stably at any width.

3. **Projector** back to pixels (VT Sec. 3.3), plus the residual of the paper's Eq. 7:

       P   = softmax_L((X W_Q)(T W_K)^T / sqrt(Dk))   [N, L]
       out = P (T W_O + b_O) + X                      [N, C]  -> reshaped to [H, W, C]

   VT's projector adds P T directly (tokens of width C, no 1/sqrt(Dk)); the value map W_O lets D differ
   from C, and the scaling is the usual scaled dot-product one.

Tokenizer and projector act on each position independently (no spatial kernel, no positional encoding),
so permuting the H*W positions of x permutes the output identically.  Tokenizer/projector use
equalized-learning-rate dense layers (StyleGAN2 convention); the transformer uses Keras core layers.
"""

import math

import keras
import tensorflow as tf

from keras_attngan.layers.equalized import EqualizedDense
from keras_attngan.registry import ATTENTION


class TokenTransformerBlock(keras.layers.Layer):
    """One pre-norm transformer encoder layer on tokens [B, L, D] (MHA + ReLU MLP, both residual)."""

    def __init__(self, num_heads=4, mlp_ratio=4, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = int(num_heads)
        self.mlp_ratio = float(mlp_ratio)

    def build(self, input_shape):
        dim = int(input_shape[-1])
        if dim % self.num_heads:
            raise ValueError(f"token width {dim} must be divisible by num_heads={self.num_heads}")
        hidden = max(1, int(round(self.mlp_ratio * dim)))
        self.norm_attn = keras.layers.LayerNormalization(epsilon=1e-5, name="norm_attn")
        self.attn = keras.layers.MultiHeadAttention(self.num_heads, dim // self.num_heads, name="attn")
        self.norm_mlp = keras.layers.LayerNormalization(epsilon=1e-5, name="norm_mlp")
        self.mlp_in = keras.layers.Dense(hidden, activation="relu", name="mlp_in")
        self.mlp_out = keras.layers.Dense(dim, name="mlp_out")
        shape = tuple(input_shape)
        self.norm_attn.build(shape)
        self.attn.build(shape, shape)
        self.norm_mlp.build(shape)
        self.mlp_in.build(shape)
        self.mlp_out.build(shape[:-1] + (hidden,))

    def call(self, t):
        h = self.norm_attn(t)
        t = t + self.attn(h, h)
        return t + self.mlp_out(self.mlp_in(self.norm_mlp(t)))

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "mlp_ratio": self.mlp_ratio}


@ATTENTION.register("vt", options=("num_tokens", "token_channels", "num_heads", "num_layers", "mlp_ratio"))
class VisualTransformerAttention(keras.layers.Layer):
    """Residual VT block: tokenizer -> transformer -> projector, [B, H, W, C] -> [B, H, W, C].

    Args:
        num_tokens: L, number of visual tokens (default 16).
        token_channels: D, token width (default None = C).
        num_heads: attention heads in the token transformer; must divide D (default 4).
        num_layers: transformer encoder layers (default 1).
        mlp_ratio: transformer MLP hidden width / D (default 4).
        key_channels: Dk, width of the projector's query/key (default None = D).
    """

    def __init__(self, num_tokens=16, token_channels=None, num_heads=4, num_layers=1, mlp_ratio=4,
                 key_channels=None, **kwargs):
        super().__init__(**kwargs)
        self.num_tokens = int(num_tokens)
        self.token_channels = None if token_channels is None else int(token_channels)
        self.num_heads = int(num_heads)
        self.num_layers = int(num_layers)
        self.mlp_ratio = float(mlp_ratio)
        self.key_channels = None if key_channels is None else int(key_channels)

    def build(self, input_shape):
        channels = int(input_shape[-1])
        dim = self.token_channels or channels
        key_dim = self.key_channels or dim
        self.channels, self.dim, self.key_dim = channels, dim, key_dim
        pixels, tokens = (None, None, channels), (None, self.num_tokens, dim)
        self.token_logits = EqualizedDense(self.num_tokens, use_bias=False, name="token_logits")  # W_A
        self.token_values = EqualizedDense(dim, name="token_values")  # W_V, b_V
        self.blocks = [TokenTransformerBlock(self.num_heads, self.mlp_ratio, name=f"transformer_{i}")
                       for i in range(self.num_layers)]
        self.proj_query = EqualizedDense(key_dim, use_bias=False, name="proj_query")  # W_Q
        self.proj_key = EqualizedDense(key_dim, use_bias=False, name="proj_key")  # W_K
        self.proj_value = EqualizedDense(channels, name="proj_value")  # W_O, b_O
        for layer in (self.token_logits, self.token_values, self.proj_query):
            layer.build(pixels)
        for layer in self.blocks + [self.proj_key, self.proj_value]:
            layer.build(tokens)

    def _flatten(self, x):
        shape = tf.shape(x)
        return tf.reshape(x, [shape[0], shape[1] * shape[2], self.channels])

    def token_attention(self, x):
        """Tokenizer's spatial attention A = softmax over positions of X W_A: [B, H*W, L]."""
        return tf.nn.softmax(self.token_logits(self._flatten(x)), axis=1)

    def tokenize(self, x):
        """Filter-based tokenizer: T = A^T (X W_V + b_V), [B, L, D]."""
        a = self.token_attention(x)
        return tf.matmul(a, self.token_values(self._flatten(x)), transpose_a=True)

    def transform(self, tokens):
        """The token transformer: ``num_layers`` encoder layers, [B, L, D] -> [B, L, D]."""
        for block in self.blocks:
            tokens = block(tokens)
        return tokens

    def project(self, x, tokens):
        """Projector without the residual: softmax_L(Q K^T / sqrt(Dk)) (T W_O + b_O), [B, H, W, C]."""
        q = self.proj_query(self._flatten(x))  # [B, N, Dk]
        k = self.proj_key(tokens)  # [B, L, Dk]
        p = tf.nn.softmax(tf.matmul(q, k, transpose_b=True) / math.sqrt(self.key_dim), axis=-1)
        return tf.reshape(tf.matmul(p, self.proj_value(tokens)), tf.shape(x))

    def call(self, x):
        return self.project(x, self.transform(self.tokenize(x))) + x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "num_tokens": self.num_tokens, "token_channels": self.token_channels,
                "num_heads": self.num_heads, "num_layers": self.num_layers, "mlp_ratio": self.mlp_ratio,
                "key_channels": self.key_channels}
