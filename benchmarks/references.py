"""Plain reference implementations of the benchmark workloads: vectorised numpy with hand-written
gradients, and PyTorch (CPU, autograd). Each takes the same initial parameters and the same
minibatch index sequence as the jaxdl run, and returns the per-step training costs, so the
benchmark can check that every implementation computes the same function before timing it.

Layout as in jaxdl: samples are rows, W is (out, in).
"""

from __future__ import annotations

import numpy as np


def cyclical_eta(t, eta_min, eta_max, n_s):
    """The cyclical (triangular) learning rate at update t (t = 0 is the first update)."""
    phase = (t % (2 * n_s)) / n_s
    return eta_min + (phase if phase <= 1 else 2 - phase) * (eta_max - eta_min)


# ---- numpy --------------------------------------------------------------------------------------
def np_softmax_ce(S, Y):
    S = S - S.max(axis=1, keepdims=True)
    P = np.exp(S)
    P /= P.sum(axis=1, keepdims=True)
    return P, -np.mean(np.log(np.sum(P * Y, axis=1)))


def np_linear(params, X, Y, idx, lam, eta):
    """A1: s = x W^T + b, softmax CE, plain SGD. Returns per-step costs."""
    W, b = params[0]["W"].copy(), params[0]["b"].copy()
    costs = np.empty(len(idx), np.float32)
    for t, rows in enumerate(idx):
        Xb, Yb = X[rows], Y[rows]
        P, loss = np_softmax_ce(Xb @ W.T + b, Yb)
        costs[t] = loss + lam * np.sum(W * W)
        G = (P - Yb) / len(rows)
        W -= eta * (G.T @ Xb + 2 * lam * W)
        b -= eta * G.sum(axis=0)
    return costs


def np_mlp_bn(params, X, Y, idx, lam, eta_min, eta_max, n_s, eps=1e-8):
    """A3: [dense (no bias) -> BN -> relu] x (k-1) -> dense, softmax CE, cyclical SGD.

    params: the jaxdl list [dense, bn, relu, dense, bn, relu, ..., dense] of dicts.
    BN's backward pass by hand: with G the gradient at gamma s_hat, sigma = sqrt(var + eps) and
    D = s - mu, dS = G / sigma - mean(G / sigma) - D sum(G D) / (n sigma^3) (sums over the batch).
    """
    dense = [{k: v.copy() for k, v in p.items()} for p in params if "W" in p]
    bns = [{k: v.copy() for k, v in p.items()} for p in params if "gamma" in p]
    costs = np.empty(len(idx), np.float32)
    for t, rows in enumerate(idx):
        x, Yb = X[rows], Y[rows]
        n = len(rows)
        cache = []
        for W, bn in zip(dense[:-1], bns):
            s = x @ W["W"].T
            mu, var = s.mean(axis=0), s.var(axis=0)
            s_hat = (s - mu) / np.sqrt(var + eps)
            h = np.maximum(bn["gamma"] * s_hat + bn["beta"], 0)
            cache.append((x, s, mu, var, s_hat, h))
            x = h
        out = dense[-1]
        P, loss = np_softmax_ce(x @ out["W"].T + out["b"], Yb)
        costs[t] = loss + lam * sum(np.sum(d["W"] ** 2) for d in dense)
        G = (P - Yb) / n
        grads = [None] * len(dense)
        grads[-1] = {"W": G.T @ x + 2 * lam * out["W"], "b": G.sum(axis=0)}
        G = (G @ out["W"]) * (x > 0)
        bn_grads = [None] * len(bns)
        for l in reversed(range(len(bns))):
            x_in, s, mu, var, s_hat, h = cache[l]
            bn_grads[l] = {"gamma": np.sum(G * s_hat, axis=0), "beta": G.sum(axis=0)}
            G = G * bns[l]["gamma"]
            sigma1, sigma2 = (var + eps) ** -0.5, (var + eps) ** -1.5
            G1, G2 = G * sigma1, G * sigma2
            D = s - mu
            c = np.sum(G2 * D, axis=0)
            G = G1 - G1.mean(axis=0) - D * c / n
            grads[l] = {"W": G.T @ x_in + 2 * lam * dense[l]["W"]}
            if l > 0:
                G = (G @ dense[l]["W"]) * (x_in > 0)
        eta = cyclical_eta(t, eta_min, eta_max, n_s)
        for p, g in zip(dense + bns, grads + bn_grads):
            for k in g:
                p[k] -= eta * g[k]
    return costs


# ---- PyTorch -----------------------------------------------------------------------------------
def torch_linear(params, X, Y, idx, lam, eta):
    import torch
    W = torch.tensor(params[0]["W"], requires_grad=True)
    b = torch.tensor(params[0]["b"], requires_grad=True)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(Y.argmax(1))
    idx_t = torch.from_numpy(np.asarray(idx, np.int64))
    costs = torch.empty(len(idx))
    for t in range(len(idx)):
        rows = idx_t[t]
        loss = torch.nn.functional.cross_entropy(Xt[rows] @ W.T + b, yt[rows])
        cost = loss + lam * (W * W).sum()
        W.grad = b.grad = None
        cost.backward()
        with torch.no_grad():
            W -= eta * W.grad
            b -= eta * b.grad
        costs[t] = cost.detach()
    return costs.numpy()


def torch_mlp_bn(params, X, Y, idx, lam, eta_min, eta_max, n_s, eps=1e-8):
    import torch
    F = torch.nn.functional
    dense = [{k: torch.tensor(v, requires_grad=True) for k, v in p.items()}
             for p in params if "W" in p]
    bns = [{k: torch.tensor(v, requires_grad=True) for k, v in p.items()}
           for p in params if "gamma" in p]
    leaves = [v for p in dense + bns for v in p.values()]
    Xt, yt = torch.from_numpy(X), torch.from_numpy(Y.argmax(1))
    idx_t = torch.from_numpy(np.asarray(idx, np.int64))
    costs = torch.empty(len(idx))
    for t in range(len(idx)):
        rows = idx_t[t]
        x = Xt[rows]
        for W, bn in zip(dense[:-1], bns):
            s = x @ W["W"].T
            x = torch.relu(F.batch_norm(s, None, None, bn["gamma"], bn["beta"], training=True,
                                        eps=eps))
        loss = F.cross_entropy(x @ dense[-1]["W"].T + dense[-1]["b"], yt[rows])
        cost = loss + lam * sum((d["W"] ** 2).sum() for d in dense)
        for v in leaves:
            v.grad = None
        cost.backward()
        eta = cyclical_eta(t, eta_min, eta_max, n_s)
        with torch.no_grad():
            for v in leaves:
                v -= eta * v.grad
        costs[t] = cost.detach()
    return costs.numpy()


# ---- surname ConvNet (conv1d -> relu -> conv1d -> relu -> dense, no biases; momentum SGD) -------
def _np_patches(X_nxlxc, k):
    """(n, L, c) -> (n, L-k+1, k c): row j holds positions j..j+k-1, each a c-vector."""
    J = X_nxlxc.shape[1] - k + 1
    return np.stack([X_nxlxc[:, t:t + J, :] for t in range(k)], axis=2).reshape(
        X_nxlxc.shape[0], J, -1)


def _filter_matrix(F_cxkxf):
    """F (c, k, nf) -> V (nf, k c) matching _np_patches' column order."""
    return F_cxkxf.transpose(2, 1, 0).reshape(F_cxkxf.shape[2], -1)


def np_names_convnet(params, X_nxlxd, Y, idx, eta, rho=0.9):
    """The ConvNet on one-hot input (n, n_len, d), hand-written backward (dF as eq 46
    of jaxdl/layers/conv1d.py: the patches' transpose times G)."""
    F1, F2, W = (params[0]["F"].copy(), params[2]["F"].copy(), params[5]["W"].copy())
    m = [np.zeros_like(F1), np.zeros_like(F2), np.zeros_like(W)]
    k1, k2 = F1.shape[1], F2.shape[1]
    costs = np.empty(len(idx), np.float32)
    for t, rows in enumerate(idx):
        X, Yb = X_nxlxd[rows], Y[rows]
        n = len(rows)
        P1 = _np_patches(X, k1)
        H1 = np.maximum(P1 @ _filter_matrix(F1).T, 0)
        P2 = _np_patches(H1, k2)
        H2 = np.maximum(P2 @ _filter_matrix(F2).T, 0)
        x2 = H2.reshape(n, -1)
        P, costs[t] = np_softmax_ce(x2 @ W.T, Yb)
        G = (P - Yb) / n
        dW = G.T @ x2
        G2 = (G @ W).reshape(H2.shape) * (H2 > 0)
        dV2 = np.einsum("njf,njq->fq", G2, P2)
        dP2 = G2 @ _filter_matrix(F2)
        G1 = np.zeros_like(H1)
        c = H1.shape[2]
        for kk in range(k2):
            G1[:, kk:kk + P2.shape[1], :] += dP2[:, :, kk * c:(kk + 1) * c]
        G1 *= H1 > 0
        dV1 = np.einsum("njf,njq->fq", G1, P1)
        grads = [dV1.reshape(F1.shape[2], k1, -1).transpose(2, 1, 0),
                 dV2.reshape(F2.shape[2], k2, -1).transpose(2, 1, 0), dW]
        for p, mm, g in zip((F1, F2, W), m, grads):
            mm *= rho
            mm += g
            p -= eta * mm
    return costs


def torch_names_convnet(params, X_nxlxd, Y, idx, eta, rho=0.9):
    import torch
    F = torch.nn.functional
    w1 = torch.tensor(params[0]["F"].transpose(2, 0, 1).copy(), requires_grad=True)  # (nf, c, k)
    w2 = torch.tensor(params[2]["F"].transpose(2, 0, 1).copy(), requires_grad=True)
    W = torch.tensor(params[5]["W"], requires_grad=True)
    opt = torch.optim.SGD([w1, w2, W], lr=eta, momentum=rho)
    Xt = torch.from_numpy(np.ascontiguousarray(X_nxlxd.transpose(0, 2, 1)))  # (n, d, L)
    yt = torch.from_numpy(Y.argmax(1))
    idx_t = torch.from_numpy(np.asarray(idx, np.int64))
    costs = torch.empty(len(idx))
    for t in range(len(idx)):
        rows = idx_t[t]
        h = torch.relu(F.conv1d(torch.relu(F.conv1d(Xt[rows], w1)), w2))
        loss = F.cross_entropy(h.transpose(1, 2).reshape(len(rows), -1) @ W.T, yt[rows])
        opt.zero_grad()
        loss.backward()
        opt.step()
        costs[t] = loss.detach()
    return costs.numpy()


# ---- MNIST starter CNN (conv5x5x16 pad 2, relu, pool, conv5x5x16 pad 2, relu, pool, dense 10) ---
# NHWC images, filters F (k, k, c_in, c_out) as in jaxdl; the FMAN45 momentum rule
# m = mu m + (1 - mu) g, w -= lr (m + wd w) with the decay on F and W only.
def _np_im2col(x_pad, k, H_out, W_out):
    """(n, Hp, Wp, c) -> (n H_out W_out, k k c), columns in (a, b, c) order = F.reshape(-1, c_out)."""
    n, c = x_pad.shape[0], x_pad.shape[3]
    cols = np.empty((n, H_out, W_out, k, k, c), x_pad.dtype)
    for a in range(k):
        for b in range(k):
            cols[:, :, :, a, b, :] = x_pad[:, a:a + H_out, b:b + W_out, :]
    return cols.reshape(n * H_out * W_out, k * k * c)


def _np_col2im(dcols, shape_pad, k, H_out, W_out):
    """The adjoint of _np_im2col: each column block added back at its shift."""
    n, c = shape_pad[0], shape_pad[3]
    dcols = dcols.reshape(n, H_out, W_out, k, k, c)
    dx_pad = np.zeros(shape_pad, dcols.dtype)
    for a in range(k):
        for b in range(k):
            dx_pad[:, a:a + H_out, b:b + W_out, :] += dcols[:, :, :, a, b, :]
    return dx_pad


def _np_conv_forward(x, F, bias, pad):
    k = F.shape[0]
    x_pad = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    H_out, W_out = x_pad.shape[1] - k + 1, x_pad.shape[2] - k + 1
    cols = _np_im2col(x_pad, k, H_out, W_out)
    y = cols @ F.reshape(-1, F.shape[3]) + bias
    return y.reshape(x.shape[0], H_out, W_out, F.shape[3]), (cols, x_pad.shape)


def _np_conv_backward(F, cache, G, pad, need_dx=True):
    """-> dx (or None), dF, db: dF = cols^T G, dx = col2im(G F^T)."""
    cols, shape_pad = cache
    k, c_out = F.shape[0], F.shape[3]
    G2 = G.reshape(-1, c_out)
    dF = (cols.T @ G2).reshape(F.shape)
    dx = None
    if need_dx:
        dx_pad = _np_col2im(G2 @ F.reshape(-1, c_out).T, shape_pad, k, G.shape[1], G.shape[2])
        dx = dx_pad[:, pad:shape_pad[1] - pad, pad:shape_pad[2] - pad, :]
    return dx, dF, G2.sum(axis=0)


def _np_pool_forward(x):
    """2x2 max pool, stride 2 (sizes even here)."""
    n, H, W, C = x.shape
    xw = x.reshape(n, H // 2, 2, W // 2, 2, C)
    y = xw.max(axis=(2, 4))
    return y, xw


def _np_pool_backward(xw, y, G):
    """dy to the window's maximum; ties share it equally (jaxdl's maxpool rule)."""
    is_max = (xw == y[:, :, None, :, None, :]).astype(G.dtype)
    share = is_max / is_max.sum(axis=(2, 4), keepdims=True)
    dxw = share * G[:, :, None, :, None, :]
    n, Ho, _, Wo, _, C = xw.shape
    return dxw.reshape(n, 2 * Ho, 2 * Wo, C)


def np_cnn(params, X, Y, idx, lr, momentum, wd, pad=2):
    """The MNIST starter CNN on X (n, 28, 28, 1); params: the jaxdl list (conv at 0 and 3, dense
    at 7). Returns the per-step data losses."""
    p = {"F1": params[0]["F"], "b1": params[0]["b"], "F2": params[3]["F"], "b2": params[3]["b"],
         "W": params[7]["W"], "b": params[7]["b"]}
    p = {k: v.copy() for k, v in p.items()}
    m = {k: np.zeros_like(v) for k, v in p.items()}
    costs = np.empty(len(idx), np.float32)
    for t, rows in enumerate(idx):
        x, Yb = X[rows], Y[rows]
        n = len(rows)
        s1, c1 = _np_conv_forward(x, p["F1"], p["b1"], pad)
        h1 = np.maximum(s1, 0)
        q1, w1 = _np_pool_forward(h1)
        s2, c2 = _np_conv_forward(q1, p["F2"], p["b2"], pad)
        h2 = np.maximum(s2, 0)
        q2, w2 = _np_pool_forward(h2)
        x3 = q2.reshape(n, -1)
        P, costs[t] = np_softmax_ce(x3 @ p["W"].T + p["b"], Yb)
        G = (P - Yb) / n
        g = {"W": G.T @ x3, "b": G.sum(axis=0)}
        G = _np_pool_backward(w2, q2, (G @ p["W"]).reshape(q2.shape)) * (s2 > 0)
        G, g["F2"], g["b2"] = _np_conv_backward(p["F2"], c2, G, pad)
        G = _np_pool_backward(w1, q1, G) * (s1 > 0)
        _, g["F1"], g["b1"] = _np_conv_backward(p["F1"], c1, G, pad, need_dx=False)
        for k in p:
            m[k] *= momentum
            m[k] += (1 - momentum) * g[k]
            p[k] -= lr * (m[k] + wd * p[k])  # every parameter, as fman45_momentum
    return costs


def torch_cnn(params, X, Y, idx, lr, momentum, wd, pad=2):
    """[conv k x k pad `pad` -> ReLU -> 2x2 max-pool] per conv layer (the MNIST starter net,
    pad 2; the improved CIFAR-10 net, pad 1), flatten H x W x C, dense; the FMAN45 momentum rule
    on every parameter, biases included, as jaxdl's fman45_momentum by default."""
    import torch
    F = torch.nn.functional
    convs = [p for p in params if "F" in p]
    dense = next(p for p in params if "W" in p)
    p = [{"F": torch.tensor(np.ascontiguousarray(c["F"].transpose(3, 2, 0, 1))),  # HWIO -> OIHW
          "b": torch.tensor(c["b"])} for c in convs]
    p.append({"W": torch.tensor(dense["W"]), "b": torch.tensor(dense["b"])})
    leaves = [v.requires_grad_() for d in p for v in d.values()]
    m = [torch.zeros_like(v) for v in leaves]
    Xt = torch.from_numpy(np.ascontiguousarray(X.transpose(0, 3, 1, 2)))  # NCHW
    yt = torch.from_numpy(Y.argmax(1))
    idx_t = torch.from_numpy(np.asarray(idx, np.int64))
    costs = torch.empty(len(idx))
    for t in range(len(idx)):
        rows = idx_t[t]
        h = Xt[rows]
        for c in p[:-1]:
            h = F.max_pool2d(torch.relu(F.conv2d(h, c["F"], c["b"], padding=pad)), 2)
        x = h.permute(0, 2, 3, 1).reshape(len(rows), -1)  # jaxdl flattens H x W x C
        loss = F.cross_entropy(x @ p[-1]["W"].T + p[-1]["b"], yt[rows])
        for v in leaves:
            v.grad = None
        loss.backward()
        with torch.no_grad():
            for v, mv in zip(leaves, m):
                mv.mul_(momentum).add_(v.grad, alpha=1 - momentum)
                v.sub_(lr * (mv + wd * v))
        costs[t] = loss.detach()
    return costs.numpy()


# ---- Flax NNX peers: the same networks as a JAX user writes them without jaxdl ----------------
# Autodiff (nnx.value_and_grad) and an nnx.Optimizer over the same optax transformation jaxdl
# uses, in the two shapes a user picks: a jitted step called from a Python loop (flax's MNIST
# example) and the whole loop as one jitted lax.scan (nnx.split / nnx.merge).

def nnx_mlp_bn(params, eps=1e-8):
    """jaxdl's [dense (no bias) -> BN -> ReLU] x (k-1) -> dense with its parameters, as an
    nnx.Module. BatchNorm where flax's defaults differ from jaxdl's (and the sheet's): epsilon
    (flax 1e-5, here eps) and the variance (flax's fast E[x^2] - E[x]^2, here the mean of
    (x - mu)^2: use_fast_variance=False). The running averages start at 0 in flax and at the
    first minibatch's statistics in jaxdl; they only enter evaluation, which is not timed."""
    import jax.numpy as jnp
    from flax import nnx
    dense = [p for p in params if "W" in p]
    bns = [p for p in params if "gamma" in p]

    class BnMlp(nnx.Module):
        def __init__(self):
            rngs = nnx.Rngs(0)
            self.linears = nnx.List([_nnx_linear(nnx, d["W"], None, rngs) for d in dense[:-1]])
            self.norms = nnx.List([nnx.BatchNorm(len(b["gamma"]), momentum=0.9, epsilon=eps,
                                                 use_fast_variance=False, rngs=rngs)
                                   for b in bns])
            for norm, b in zip(self.norms, bns):
                norm.scale.value, norm.bias.value = jnp.asarray(b["gamma"]), jnp.asarray(b["beta"])
            self.out = _nnx_linear(nnx, dense[-1]["W"], dense[-1]["b"], rngs)

        def __call__(self, x):
            for linear, norm in zip(self.linears, self.norms):
                x = nnx.relu(norm(linear(x)))
            return self.out(x)

        def l2(self):
            return sum(jnp.sum(m.kernel.value ** 2) for m in [*self.linears, self.out])

    return BnMlp


def nnx_cnn(params, pad: int, pool_after: tuple[bool, ...]):
    """jaxdl's conv -> ReLU [-> 2x2 max-pool] stack, flatten H x W x C, dense, with its
    parameters (the kernels are HWIO in both), as an nnx.Module; pool_after[i]: a pool follows
    conv i."""
    import jax.numpy as jnp
    from flax import linen, nnx
    convs = [p for p in params if "F" in p]
    dense = next(p for p in params if "W" in p)

    class Cnn(nnx.Module):
        def __init__(self):
            rngs = nnx.Rngs(0)
            self.convs = nnx.List()
            for c in convs:
                k, _, c_in, c_out = c["F"].shape
                conv = nnx.Conv(c_in, c_out, (k, k), padding=pad, rngs=rngs)
                conv.kernel.value, conv.bias.value = jnp.asarray(c["F"]), jnp.asarray(c["b"])
                self.convs.append(conv)
            self.out = _nnx_linear(nnx, dense["W"], dense["b"], rngs)

        def __call__(self, x):
            for conv, pool in zip(self.convs, pool_after):
                x = nnx.relu(conv(x))
                if pool:
                    x = linen.max_pool(x, (2, 2), strides=(2, 2))
            return self.out(x.reshape(x.shape[0], -1))

        def l2(self):
            return 0.0

    return Cnn


def _nnx_linear(nnx, W, b, rngs):
    """An nnx.Linear holding jaxdl's W (out, in) as its kernel (in, out), and b when given."""
    import jax.numpy as jnp
    linear = nnx.Linear(W.shape[1], W.shape[0], use_bias=b is not None, rngs=rngs)
    linear.kernel.value = jnp.asarray(W.T)
    if b is not None:
        linear.bias.value = jnp.asarray(b)
    return linear


class NnxPeer:
    """Trains an nnx.Module class (no constructor arguments) with optax transformation `tx` on
    cost = softmax cross-entropy + lam * model.l2(); X, Y live on the device. form "loop": an
    nnx.jit step per minibatch from a Python loop; "scan": one jitted lax.scan over the
    minibatches. Each call starts from the same initial state and returns the per-step costs."""

    def __init__(self, module_cls, tx, lam, X, Y, form):
        import jax
        import jax.numpy as jnp
        import optax
        from flax import nnx
        self.X, self.Y, self.form, self.compiled = jnp.asarray(X), jnp.asarray(Y), form, {}
        model = module_cls()
        self.graphdef, self.state0 = nnx.split((model, nnx.Optimizer(model, tx, wrt=nnx.Param)))

        def step(model, optimizer, X, Y, rows):
            def cost(model):
                scores = model(X[rows])
                return optax.softmax_cross_entropy(scores, Y[rows]).mean() + lam * model.l2()
            J, grads = nnx.value_and_grad(cost)(model)
            optimizer.update(model, grads)
            return J

        self.jit_step = nnx.jit(step)

        def scan(state, X, Y, idx):
            def body(state, rows):
                model, optimizer = nnx.merge(self.graphdef, state)
                J = step(model, optimizer, X, Y, rows)
                return nnx.state((model, optimizer)), J
            return jax.lax.scan(body, state, idx)[1]

        self.jit_scan = jax.jit(scan)

    def compile(self, idx):
        """Compiles the scan for idx's shape (the loop's step compiles on its first call)."""
        if self.form == "scan" and idx.shape not in self.compiled:
            self.compiled[idx.shape] = self.jit_scan.lower(self.state0, self.X, self.Y,
                                                           idx).compile()

    def __call__(self, idx):
        from flax import nnx
        if self.form == "scan":
            self.compile(idx)
            return np.asarray(self.compiled[idx.shape](self.state0, self.X, self.Y, idx))
        # copy: the step updates the Variables in place, and state0 must stay the start
        model, optimizer = nnx.merge(self.graphdef, self.state0, copy=True)
        costs = [self.jit_step(model, optimizer, self.X, self.Y, rows) for rows in idx]
        return np.asarray(costs)
