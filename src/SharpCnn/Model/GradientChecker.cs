using SharpCnn.Layers;
using SharpCnn.Losses;
using SharpCnn.Tensors;

namespace SharpCnn.Model;

/// <summary>Settings of a gradient check.</summary>
public sealed record GradientCheckOptions
{
    /// <summary>Finite-difference step h, relative to max(1, |value|). Central differences: (f(v+h) - f(v-h)) / 2h.</summary>
    public double Step { get; init; } = 1e-4;

    /// <summary>Largest relative error that passes.</summary>
    public double Tolerance { get; init; } = 1e-6;

    /// <summary>Check at most this many elements per tensor, a seeded random sample spread over every batch item (0 = all).</summary>
    public int MaxElementsPerTensor { get; init; }

    /// <summary>Seed of the random upstream gradients, the element sample and the re-drawn points.</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>How often one element may be re-drawn off a kink before the check gives up on it (it then fails).</summary>
    public int MaxRedraws { get; init; } = 20;
}

/// <summary>The result for one tensor (an input or a parameter).</summary>
/// <param name="Layer">Where the tensor belongs ("2 relu", "network", "loss ce").</param>
/// <param name="Tensor">Which tensor: input, weight, bias, beta.</param>
/// <param name="Checked">Elements compared.</param>
/// <param name="Total">Elements in the tensor (connected ones, for a masked weight).</param>
/// <param name="MaxRelativeError">Largest |analytic - numeric| / max(|analytic|, |numeric|, floor) over the checked elements.</param>
/// <param name="Scale">Largest |analytic| in the tensor; the floor is 1e-3 of it.</param>
/// <param name="Redraws">Points moved off a kink (ReLU at 0, max-pool tie, ...) and checked again.</param>
/// <param name="Passed">True when <paramref name="MaxRelativeError"/> is within the tolerance.</param>
public sealed record TensorCheck(string Layer, string Tensor, int Checked, int Total, double MaxRelativeError, double Scale, int Redraws, bool Passed);

/// <summary>All tensors checked, and the verdict.</summary>
public sealed record GradientCheckReport(IReadOnlyList<TensorCheck> Tensors, double Tolerance)
{
    /// <summary>True when every tensor passed.</summary>
    public bool Passed => Tensors.All(t => t.Passed);

    /// <summary>The largest relative error over all tensors.</summary>
    public double MaxRelativeError => Tensors.Count == 0 ? 0 : Tensors.Max(t => t.MaxRelativeError);

    /// <summary>This report followed by <paramref name="other"/>.</summary>
    public GradientCheckReport Concat(GradientCheckReport other) => new([.. Tensors, .. other.Tensors], Tolerance);
}

/// <summary>
/// Numerical gradient checker (in double precision) for layers, losses and whole networks,
/// for the tests and for users' own models.
///
/// A scalar objective f is built from a random upstream gradient R (seeded), f = Σ y ⊙ R,
/// so that ∂f/∂y = R exercises every output. For each checked element v of an input or a
/// parameter, the analytic ∂f/∂v from Backward is compared with the central difference
///   numeric = (f(v + h) - f(v - h)) / 2h,  h = Step · max(1, |v|)
/// by the relative error |analytic - numeric| / max(|analytic|, |numeric|, 1e-3 · scale),
/// scale = the tensor's largest |analytic| (so roundoff on near-zero entries does not
/// count, but any entry wrong by more than 1e-9 of the tensor's scale does). When the whole
/// tensor's analytic gradient is at roundoff level (a bias right before a batch norm has an
/// exactly zero gradient), the floor becomes noise / tolerance: the numerical derivative
/// must then be zero within the roundoff noise of f, noise = 1e-14 · max(1, |f|) / h.
///
/// Kinks (ReLU at 0, a max-pool tie, '-max' ties): f is also evaluated at v ± 2h. For a
/// smooth f the central differences with h and 2h agree, and so do the second differences
/// (scaled 2:1), to O(h²); a kink within 2h of v breaks at least one of the two by a
/// fraction of its slope jump that bounds the harm it could do. A flagged point is first
/// looked at again with a ten times finer step (large higher derivatives of a smooth f
/// can trip the tests; a kink further than 2h/10 away cannot). If it is still flagged it
/// is not skipped: v is moved by a random 1e-3..1e-2 (relative) offset, the
/// analytic gradient is recomputed there, and the element is checked again; the number
/// of such re-draws is reported. Values the check moved are restored afterwards.
/// A flag is first weighed against f's roundoff measured at v (f at v ± δ, ±2δ, ±3δ, δ = h/1000,
/// less the line fitted through them): when f sums thousands of values that all move with v (a batch norm's
/// input moves its channel's statistics, hence every output) its roundoff can exceed the noise
/// model, and tests within 8 times the measured roundoff are not a kink; the element is then
/// judged at that step with the floor raised to measured noise / tolerance.
/// Parameter gradients are overwritten by the check.
///
/// Non-trained state (<see cref="ParameterRole.State"/>: batch norm's running statistics)
/// is not a target: nothing differentiates it in training mode. Training-mode forward
/// passes update it, so the check saves it first and restores it afterwards.
/// </summary>
public static class GradientChecker
{
    /// <summary>Checks one layer on the batch <paramref name="x"/> of <paramref name="n"/> samples: ∂/∂x and every parameter.</summary>
    public static GradientCheckReport CheckLayer(Layer<double> layer, double[] x, int n, GradientCheckOptions? options = null, string? name = null)
    {
        options ??= new GradientCheckOptions();
        var rng = new Rng(options.Seed);
        layer.Reserve(n);
        int inSize = n * layer.InputShape.Size, outSize = n * layer.OutputShape.Size;
        if (x.Length != inSize) throw new ArgumentException($"x has {x.Length} values, {n} samples of {layer.InputShape} need {inSize}");
        var y = new double[outSize];
        var r = RandomNormal(rng, outSize);
        var dx = new double[inSize];
        string label = name ?? layer.Token;

        double F()
        {
            layer.Forward(x, y, n);
            return Dot(y, r);
        }

        void Analytic()
        {
            foreach (var p in layer.Parameters) Array.Clear(p.Gradient);
            layer.Forward(x, y, n);
            layer.Backward(x, y, r, dx, n);
        }

        var targets = new List<Target> { new(label, "input", x, dx, n, null) };
        foreach (var p in layer.Parameters)
            if (p.IsTrained) targets.Add(new Target(label, p.Name, p.Value, p.Gradient, 1, p.Mask));
        return KeepingState(layer.Parameters, () => Run(targets, F, Analytic, options, rng));
    }

    /// <summary>Checks a loss: ∂L/∂output for the batch <paramref name="output"/> ([n, classes]).</summary>
    public static GradientCheckReport CheckLoss(Loss<double> loss, double[] output, int[] labels, int n, int classes, GradientCheckOptions? options = null)
    {
        options ??= new GradientCheckOptions();
        var rng = new Rng(options.Seed);
        var g = new double[n * classes];
        double F() => loss.Forward(output, labels, n, classes);
        void Analytic() => loss.Backward(output, labels, g, n, classes);
        return Run([new Target($"loss {loss.Name}", "input", output, g, n, null)], F, Analytic, options, rng);
    }

    /// <summary>
    /// Checks a whole network end to end on the batch <paramref name="x"/>: ∂f/∂x and every parameter of every
    /// layer, with f = Σ output ⊙ R for a random R.
    /// </summary>
    public static GradientCheckReport CheckNetwork(Network<double> network, double[] x, int n, GradientCheckOptions? options = null)
    {
        options ??= new GradientCheckOptions();
        var rng = new Rng(options.Seed);
        network.Reserve(n);
        if (x.Length != n * network.InputShape.Size) throw new ArgumentException($"x has {x.Length} values, {n} samples of {network.InputShape} need {n * network.InputShape.Size}");
        var r = RandomNormal(rng, n * network.OutputShape.Size);
        var dx = new double[x.Length];
        int first = 0;

        double F()
        {
            if (first == 0) x.CopyTo(network.Input(n));
            return Dot(network.ForwardFrom(first, n), r);
        }

        void Analytic()
        {
            network.ZeroGradients();
            x.CopyTo(network.Input(n));
            network.Forward(n);
            network.Backward(r, n, inputGradient: true);
            network.InputGradient(n).CopyTo(dx);
        }

        var targets = new List<Target> { new("network", "input", x, dx, n, null) { OnSelect = () => first = 0 } };
        for (int k = 0; k < network.Layers.Count; k++)
        {
            int layerIndex = k;
            foreach (var p in network.Layers[k].Parameters.Where(p => p.IsTrained))
                targets.Add(new Target($"{k + 1} {network.Layers[k].Token}", p.Name, p.Value, p.Gradient, 1, p.Mask)
                {
                    // Bring every activation back to the unperturbed point, then re-run only from this layer on.
                    OnSelect = () =>
                    {
                        first = 0;
                        F();
                        first = layerIndex;
                    },
                });
        }
        return KeepingState(network.Parameters, () => Run(targets, F, Analytic, options, rng));
    }

    /// <summary>
    /// The full check of a model, as <c>sharpcnn gradcheck</c> runs it: every layer on its own (fed the
    /// activations the network computes for <paramref name="x"/>), the network end to end, and the loss.
    /// </summary>
    public static GradientCheckReport CheckModel(Network<double> network, double[] x, int[] labels, int n, GradientCheckOptions? options = null) =>
        KeepingState(network.Parameters, () => CheckModelLayers(network, x, labels, n, options ?? new GradientCheckOptions()));

    private static GradientCheckReport CheckModelLayers(Network<double> network, double[] x, int[] labels, int n, GradientCheckOptions options)
    {
        network.Reserve(n);
        x.CopyTo(network.Input(n));
        network.Forward(n);
        var report = new GradientCheckReport([], options.Tolerance);
        for (int k = 0; k < network.Layers.Count; k++)
        {
            var layerInput = network.Activation(k, n).ToArray();
            var layer = network.Layers[k];
            report = report.Concat(CheckLayer(layer, layerInput, n, options with { Seed = options.Seed + (ulong)k + 1 }, $"{k + 1} {layer.Token}"));
        }
        report = report.Concat(CheckNetwork(network, x, n, options));
        x.CopyTo(network.Input(n));
        var output = network.Forward(n).ToArray();
        return report.Concat(CheckLoss(network.Loss, output, labels, n, network.Classes, options));
    }

    /// <summary>Runs <paramref name="check"/> and puts every <see cref="ParameterRole.State"/> tensor back as it was.</summary>
    private static GradientCheckReport KeepingState(IEnumerable<Parameter<double>> parameters, Func<GradientCheckReport> check)
    {
        var state = parameters.Where(p => !p.IsTrained).Select(p => (p, (double[])p.Value.Clone())).ToArray();
        try
        {
            return check();
        }
        finally
        {
            foreach (var (p, saved) in state) saved.CopyTo(p.Value, 0);
        }
    }

    private sealed record Target(string Layer, string Name, double[] Values, double[] Gradient, int Items, bool[]? Mask)
    {
        public Action? OnSelect { get; init; }
    }

    /// <summary>
    /// The roundoff of f at v, measured: f at v + t for t = kδ (k = ±1, ±2, ±3, δ = h/1000), less
    /// the straight line f0 + s·t fitted to them by least squares, largest residual in magnitude.
    /// The fit does not use the analytic gradient, so a wrong gradient cannot pass for noise; what
    /// remains is roundoff (the curvature term (3δ)² f''/2 is negligible) or a kink within 3δ,
    /// which leaves residuals of about its slope jump times δ.
    /// </summary>
    private static double Roundoff(double[] values, int i, double v, double h, double f0, Func<double> f)
    {
        Span<double> t = stackalloc double[6], df = stackalloc double[6];
        int j = 0;
        for (int k = -3; k <= 3; k++)
        {
            if (k == 0) continue;
            values[i] = v + k * h * 1e-3;
            t[j] = values[i] - v; // the step actually taken, after rounding
            df[j++] = f() - f0;
        }
        values[i] = v;
        double st = 0, tt = 0;
        for (j = 0; j < 6; j++)
        {
            st += t[j] * df[j];
            tt += t[j] * t[j];
        }
        double slope = st / tt, largest = 0;
        for (j = 0; j < 6; j++) largest = Math.Max(largest, Math.Abs(df[j] - slope * t[j]));
        return largest;
    }

    private static GradientCheckReport Run(List<Target> targets, Func<double> f, Action analytic, GradientCheckOptions options, Rng rng)
    {
        var originals = targets.Select(t => (double[])t.Values.Clone()).ToArray();
        var results = new List<TensorCheck>();
        try
        {
            analytic();
            double f0 = f();
            foreach (var target in targets)
            {
                target.OnSelect?.Invoke();
                int[] indices = SelectElements(target, options.MaxElementsPerTensor, rng);
                int total = target.Mask is null ? target.Values.Length : target.Mask.Count(m => m);
                double worst = 0, scale = 0;
                int redraws = 0;
                bool gaveUp = false;
                foreach (int i in indices)
                {
                    int attempts = 0;
                    double shrink = 1; // 1, or 0.1 on a second look with a finer step
                    while (true)
                    {
                        scale = MaxAbs(target.Gradient);
                        double a = target.Gradient[i];
                        double v = target.Values[i];
                        double h = shrink * options.Step * Math.Max(1, Math.Abs(v));
                        target.Values[i] = v + h;
                        double fp1 = f();
                        target.Values[i] = v - h;
                        double fm1 = f();
                        target.Values[i] = v + 2 * h;
                        double fp2 = f();
                        target.Values[i] = v - 2 * h;
                        double fm2 = f();
                        target.Values[i] = v;
                        double numeric = (fp1 - fm1) / (2 * h), wide = (fp2 - fm2) / (4 * h);
                        // Kink tests. For a smooth f both are O(h²) and vanish next to the tolerance; a kink
                        // within 2h of v (slope jump J at distance d) shows in at least one of them with
                        // at least J/7, while it moves the central difference by at most J/2.
                        double curvatureMismatch = Math.Abs(2 * (fp1 - 2 * f0 + fm1) / h - (fp2 - 2 * f0 + fm2) / (2 * h));
                        double stepMismatch = Math.Abs(numeric - wide);
                        double noise = 1e-14 * Math.Max(1, Math.Abs(f0)) / h;
                        double floor = Math.Max(1e-3 * scale, 100 * noise);
                        // A tensor whose analytic gradient is zero to roundoff everywhere (a bias just before a
                        // batch norm, which removes any per-channel shift) has no scale to be relative to: the
                        // check then asks that the numerical derivative is zero too, within f's roundoff noise.
                        if (scale <= 100 * noise) floor = Math.Max(floor, noise / options.Tolerance);
                        double kinkTolerance = Math.Max(0.1 * options.Tolerance * Math.Max(Math.Max(Math.Abs(a), Math.Abs(numeric)), floor), noise);
                        bool flagged = Math.Max(curvatureMismatch, stepMismatch) > kinkTolerance;
                        if (flagged)
                        {
                            // Before calling it a kink, measure f's actual roundoff here: f summed over thousands of
                            // values that all move with v (a batch norm's input moves its channel's mean and
                            // variance, hence every output) can be noisier than the model above. If the tests stay
                            // within that noise (the curvature test combines five values of f with weights adding
                            // up to 8), it is roundoff, not a kink: judge at this step, against that noise.
                            double roundoff = Roundoff(target.Values, i, v, h, f0, f) / h;
                            if (roundoff > noise && Math.Max(curvatureMismatch, stepMismatch) <= 8 * roundoff)
                            {
                                flagged = false;
                                floor = Math.Max(floor, roundoff / options.Tolerance);
                            }
                        }
                        if (flagged && shrink == 1)
                        {
                            // Large higher derivatives can look like a kink at this scale; a kink at distance
                            // d > 2h/10 is out of reach of a ten times finer step. Look again with it.
                            shrink = 0.1;
                            continue;
                        }
                        if (flagged && attempts < options.MaxRedraws)
                        {
                            shrink = 1;
                            // A kink lies within 2h: move this element to a new random point and check there.
                            attempts++;
                            redraws++;
                            double offset = (1e-3 + 9e-3 * rng.NextDouble()) * Math.Max(1, Math.Abs(v)) * (rng.NextDouble() < 0.5 ? -1 : 1);
                            target.Values[i] = v + offset;
                            analytic();
                            f0 = f();
                            continue;
                        }
                        if (flagged) gaveUp = true; // still on a kink after every re-draw
                        double err = Math.Abs(a - numeric) / Math.Max(Math.Max(Math.Abs(a), Math.Abs(numeric)), floor);
                        if (double.IsNaN(err)) err = double.PositiveInfinity;
                        worst = Math.Max(worst, err);
                        break;
                    }
                }
                results.Add(new TensorCheck(target.Layer, target.Name, indices.Length, total, worst, scale, redraws, worst <= options.Tolerance && !gaveUp));
            }
        }
        finally
        {
            for (int t = 0; t < targets.Count; t++) originals[t].CopyTo(targets[t].Values, 0);
        }
        return new GradientCheckReport(results, options.Tolerance);
    }

    private static int[] SelectElements(Target target, int max, Rng rng)
    {
        int length = target.Values.Length;
        var eligible = Enumerable.Range(0, length).Where(i => target.Mask is null || target.Mask[i]).ToArray();
        if (max <= 0 || eligible.Length <= max) return eligible;
        // Spread the sample over the batch items: each item gets its share of the budget.
        int items = target.Items, per = length / items, quota = Math.Max(1, max / items);
        var chosen = new List<int>();
        for (int item = 0; item < items; item++)
        {
            var pool = eligible.Where(i => i / per == item).ToArray();
            rng.Shuffle(pool);
            chosen.AddRange(pool.Take(quota));
        }
        chosen.Sort();
        return chosen.ToArray();
    }

    private static double[] RandomNormal(Rng rng, int length)
    {
        var r = new double[length];
        for (int i = 0; i < length; i++) r[i] = rng.NextNormal();
        return r;
    }

    private static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }

    private static double MaxAbs(ReadOnlySpan<double> a)
    {
        double m = 0;
        foreach (double v in a) m = Math.Max(m, Math.Abs(v));
        return m;
    }
}
