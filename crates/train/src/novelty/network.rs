use ndarray::{Array1, Array2, ArrayView2, Axis, Zip, s};

use crate::Rng;
use crate::nn::{Linear, Module, Param, Relu};

/// The reconstruction network `D → h → z → h → D` (ReLU after each hidden layer, linear
/// bottleneck and output), as an autoencoder or a VAE.
///
/// One shape serves both so that scoring is the same math either way: the VAE's encoder head
/// simply emits `2z` columns, `[μ | log σ²]`, and scoring decodes `μ` (the first `z` rows of
/// the head). An exporter therefore writes one graph, `Gemm → Relu → Gemm → Gemm → Relu →
/// Gemm`, for both.
///
/// The training loss per batch of `N` standardized rows is
/// `L = 1/(N·D) Σ (x̂ − x)² + β·2/(N·D) Σ KL(q(z|x) ‖ N(0, I))`,
/// at `β = 1` the negative ELBO of a unit-variance Gaussian decoder (`β` is in effect the
/// decoder's variance), scaled by `2/D` so that the autoencoder's loss (no KL term) is the
/// plain mean squared error.
#[derive(Clone, Debug)]
pub(crate) struct Network {
    pub enc: Linear,
    relu_enc: Relu,
    /// `z × h` for an autoencoder, `2z × h` (`μ` rows first) for a VAE.
    pub head: Linear,
    pub dec: Linear,
    relu_dec: Relu,
    pub out: Linear,
    pub latent: usize,
    pub variational: bool,
    /// Weight of the KL term (`β`); unused by the autoencoder.
    pub beta: f32,
    cache: Option<Cache>,
}

#[derive(Clone, Debug)]
struct Cache {
    x: Array2<f32>,
    head_out: Array2<f32>,
    noise: Option<Array2<f32>>,
    recon: Array2<f32>,
}

pub(crate) const PARAM_PREFIX: &str = "novelty";

impl Network {
    pub fn new(dim: usize, hidden: usize, latent: usize, variational: bool, rng: &mut Rng) -> Self {
        let heads = if variational { 2 * latent } else { latent };
        Network {
            enc: Linear::new(&format!("{PARAM_PREFIX}.enc"), dim, hidden, rng),
            relu_enc: Relu::default(),
            head: Linear::new(&format!("{PARAM_PREFIX}.head"), hidden, heads, rng),
            dec: Linear::new(&format!("{PARAM_PREFIX}.dec"), latent, hidden, rng),
            relu_dec: Relu::default(),
            out: Linear::new(&format!("{PARAM_PREFIX}.out"), hidden, dim, rng),
            latent,
            variational,
            beta: 1.0,
            cache: None,
        }
    }

    /// A network from loaded layers, whose shapes the caller has checked to chain
    /// (`enc: h×D`, `head: z×h` or `2z×h`, `dec: h×z`, `out: D×h`).
    pub fn from_layers([enc, head, dec, out]: [Linear; 4], variational: bool, beta: f32) -> Self {
        Network {
            latent: dec.inputs(),
            enc,
            relu_enc: Relu::default(),
            head,
            dec,
            relu_dec: Relu::default(),
            out,
            variational,
            beta,
            cache: None,
        }
    }

    pub fn dim(&self) -> usize {
        self.enc.inputs()
    }

    pub fn hidden(&self) -> usize {
        self.enc.outputs()
    }

    /// `N × z` standard normal noise for the reparameterization of one step.
    pub fn noise(&self, rows: usize, rng: &mut Rng) -> Option<Array2<f32>> {
        self.variational
            .then(|| Array2::from_shape_simple_fn((rows, self.latent), || rng.normal()))
    }

    /// The loss of a batch, caching what [`Network::backward_loss`] needs. `noise` is the VAE's
    /// `ε` (`N × z`; ignored by the autoencoder), drawn by the caller so that a step is a pure
    /// function of its inputs.
    pub fn forward_loss(&mut self, x: ArrayView2<f32>, noise: Option<Array2<f32>>) -> f32 {
        let h = self.relu_enc.forward(self.enc.forward(x).view());
        let head_out = self.head.forward(h.view());
        // No noise for a VAE means ε = 0: the posterior mean, with the KL term still applied.
        let noise = self
            .variational
            .then(|| noise.unwrap_or_else(|| Array2::zeros((x.nrows(), self.latent))));
        let z = match &noise {
            Some(eps) => {
                let (mu, logvar) = self.split(&head_out);
                let mut z = eps.clone();
                Zip::from(&mut z)
                    .and(&mu)
                    .and(&logvar)
                    .for_each(|z, &m, &lv| *z = m + (0.5 * lv).exp() * *z);
                z
            }
            None => head_out.to_owned(),
        };
        let h = self.relu_dec.forward(self.dec.forward(z.view()).view());
        let recon = self.out.forward(h.view());
        let (n, d) = (x.nrows() as f64, x.ncols() as f64);
        let squared: f64 = Zip::from(&recon)
            .and(&x)
            .fold(0.0f64, |acc, &r, &x| acc + ((r - x) as f64).powi(2));
        let mut loss = squared / (n * d);
        if self.variational {
            let (mu, logvar) = self.split(&head_out);
            let kl: f64 = Zip::from(&mu).and(&logvar).fold(0.0f64, |acc, &m, &lv| {
                acc + 0.5 * ((m * m) as f64 + (lv as f64).exp() - 1.0 - lv as f64)
            });
            loss += self.beta as f64 * 2.0 * kl / (n * d);
        }
        self.cache = Some(Cache {
            x: x.to_owned(),
            head_out,
            noise,
            recon,
        });
        loss as f32
    }

    /// Accumulates `dL/dparam` into every parameter and returns `dL/dx` (through the network
    /// and through `x` as the reconstruction target); the finite-difference checks use it.
    #[cfg(test)]
    pub fn backward_loss(&mut self) -> Array2<f32> {
        self.backward(true)
            .expect("the input's gradient was asked for")
    }

    /// [`Network::backward_loss`] for training: the parameters' gradients only, without the
    /// first layer's input gradient (a GEMM as large as the first layer's forward).
    pub fn backward_params(&mut self) {
        self.backward(false);
    }

    fn backward(&mut self, input_gradient: bool) -> Option<Array2<f32>> {
        let Cache {
            x,
            head_out,
            noise,
            recon,
        } = self
            .cache
            .take()
            .expect("backward_loss without forward_loss");
        let (n, d) = (x.nrows() as f32, x.ncols() as f32);
        let mut g_recon = recon - &x;
        g_recon *= 2.0 / (n * d);
        let g = self.out.backward(g_recon.view());
        let g = self.relu_dec.backward(g.view());
        let g_z = self.dec.backward(g.view());
        let g_head = match noise {
            Some(eps) => {
                let kl_scale = self.beta * 2.0 / (n * d);
                let (mu, logvar) = self.split(&head_out);
                let mut g_head = Array2::zeros(head_out.raw_dim());
                let z = self.latent;
                Zip::from(g_head.slice_mut(s![.., ..z]))
                    .and(&g_z)
                    .and(&mu)
                    .for_each(|o, &g, &m| *o = g + kl_scale * m);
                Zip::from(g_head.slice_mut(s![.., z..]))
                    .and(&g_z)
                    .and(&eps)
                    .and(&logvar)
                    .for_each(|o, &g, &e, &lv| {
                        let e_lv = lv.exp();
                        *o = g * e * 0.5 * (0.5 * lv).exp() + kl_scale * 0.5 * (e_lv - 1.0)
                    });
                g_head
            }
            None => g_z,
        };
        let g = self.head.backward(g_head.view());
        let g = self.relu_enc.backward(g.view());
        if !input_gradient {
            self.enc.backward_params(g.view());
            return None;
        }
        let mut gx = self.enc.backward(g.view());
        gx -= &g_recon;
        Some(gx)
    }

    /// Reconstruction of each row from its code (the VAE's posterior mean), without caching.
    pub fn reconstruct(&self, x: ArrayView2<f32>) -> Array2<f32> {
        let h = self.relu_enc.infer(self.enc.infer(x).view());
        let head_out = self.head.infer(h.view());
        let mu = head_out.slice(s![.., ..self.latent]);
        let h = self.relu_dec.infer(self.dec.infer(mu).view());
        self.out.infer(h.view())
    }

    /// Mean squared reconstruction error of each row: the novelty score.
    pub fn score(&self, x: ArrayView2<f32>) -> Array1<f32> {
        let mut err = self.reconstruct(x) - x;
        err.mapv_inplace(|v| v * v);
        err.mean_axis(Axis(1))
            .expect("rows have at least one column")
    }

    fn split(&self, head_out: &Array2<f32>) -> (Array2<f32>, Array2<f32>) {
        let z = self.latent;
        (
            head_out.slice(s![.., ..z]).to_owned(),
            head_out.slice(s![.., z..]).to_owned(),
        )
    }

    pub fn params(&self) -> Vec<&Param> {
        [&self.enc, &self.head, &self.dec, &self.out]
            .into_iter()
            .flat_map(|l| l.params())
            .collect()
    }

    pub fn params_mut(&mut self) -> Vec<&mut Param> {
        let mut v = self.enc.params_mut();
        v.extend(self.head.params_mut());
        v.extend(self.dec.params_mut());
        v.extend(self.out.params_mut());
        v
    }

    pub fn zero_grad(&mut self) {
        for p in self.params_mut() {
            p.grad.fill(0.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_module, random_matrix};

    /// The training loss seen as a module `x ↦ [L(x)]`, so the shared finite-difference check
    /// covers `dL/dx` and every `dL/dparam` of the exact code the trainer runs.
    struct LossModule {
        net: Network,
        noise: Option<Array2<f32>>,
    }

    impl Module for LossModule {
        fn forward(&mut self, x: ArrayView2<f32>) -> Array2<f32> {
            Array2::from_elem((1, 1), self.net.forward_loss(x, self.noise.clone()))
        }

        fn backward(&mut self, g: ArrayView2<f32>) -> Array2<f32> {
            let scale = g[[0, 0]];
            for p in self.net.params_mut() {
                p.grad.mapv_inplace(|v| v / scale);
            }
            let gx = self.net.backward_loss();
            for p in self.net.params_mut() {
                p.grad.mapv_inplace(|v| v * scale);
            }
            gx * scale
        }

        fn infer(&self, _: ArrayView2<f32>) -> Array2<f32> {
            unreachable!("the check only calls forward")
        }

        fn params(&self) -> Vec<&Param> {
            self.net.params()
        }

        fn params_mut(&mut self) -> Vec<&mut Param> {
            self.net.params_mut()
        }
    }

    #[test]
    fn autoencoder_loss_backward_matches_finite_differences() {
        let net = Network::new(5, 7, 3, false, &mut Rng::new(1));
        check_module(
            &mut LossModule { net, noise: None },
            &random_matrix(6, 5, 2),
        );
    }

    #[test]
    fn vae_loss_backward_matches_finite_differences() {
        let mut net = Network::new(5, 7, 3, true, &mut Rng::new(3));
        // A β far from 1 so a misplaced KL factor cannot cancel against the reconstruction.
        net.beta = 0.7;
        let noise = net.noise(6, &mut Rng::new(4));
        check_module(&mut LossModule { net, noise }, &random_matrix(6, 5, 5));
    }

    #[test]
    fn vae_loss_matches_a_direct_evaluation() {
        let mut net = Network::new(3, 4, 2, true, &mut Rng::new(6));
        net.beta = 0.5;
        let x = random_matrix(2, 3, 7);
        let eps = net.noise(2, &mut Rng::new(8)).unwrap();
        let got = net.forward_loss(x.view(), Some(eps.clone()));
        // Written out element by element, independent of the matrix code above.
        let lin = |l: &Linear, v: &[f32]| -> Vec<f32> {
            (0..l.outputs())
                .map(|o| {
                    l.bias.value[[0, o]]
                        + (0..v.len())
                            .map(|i| l.weight.value[[o, i]] * v[i])
                            .sum::<f32>()
                })
                .collect()
        };
        let relu = |v: Vec<f32>| -> Vec<f32> { v.into_iter().map(|a| a.max(0.0)).collect() };
        let mut total = 0.0f64;
        for r in 0..2 {
            let xr: Vec<f32> = x.row(r).to_vec();
            let head = lin(&net.head, &relu(lin(&net.enc, &xr)));
            let z: Vec<f32> = (0..2)
                .map(|j| head[j] + (0.5 * head[2 + j]).exp() * eps[[r, j]])
                .collect();
            let y = lin(&net.out, &relu(lin(&net.dec, &z)));
            let mse: f64 = y
                .iter()
                .zip(&xr)
                .map(|(a, b)| ((a - b) as f64).powi(2))
                .sum::<f64>()
                / 3.0;
            let kl: f64 = (0..2)
                .map(|j| {
                    let (m, lv) = (head[j] as f64, head[2 + j] as f64);
                    0.5 * (m * m + lv.exp() - 1.0 - lv)
                })
                .sum();
            total += mse + 0.5 * 2.0 * kl / 3.0;
        }
        let want = total / 2.0;
        assert!(
            (got as f64 - want).abs() < 1e-5 * want.max(1.0),
            "{got} vs {want}"
        );
    }
}
