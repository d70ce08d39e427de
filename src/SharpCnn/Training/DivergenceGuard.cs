using SharpCnn.Kernels;
using SharpCnn.Model;
using SharpCnn.Tensors;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace SharpCnn.Training;

/// <summary>
/// What the divergence guard found: where (layer position and token, as the model spec
/// names them), which statistic, its value, and when.
/// </summary>
/// <param name="Step">The step (1-based, counted over the whole run) during which it was found.</param>
/// <param name="Epoch">The epoch of that step.</param>
/// <param name="Layer">1-based layer position, or 0 for the loss.</param>
/// <param name="Token">The layer's spec token (empty for the loss).</param>
/// <param name="Quantity">What was measured: "output", "weight gradient", "bias", "loss", ...</param>
/// <param name="Value">The largest magnitude found (NaN or infinity when the values are not finite).</param>
/// <param name="Limit">The limit it broke (<see cref="TrainingOptions.ExplosionLimit"/>; infinity when only non-finite values are caught).</param>
public sealed record Divergence(long Step, int Epoch, int Layer, string Token, string Quantity, double Value, double Limit)
{
    /// <summary>One line, e.g. <c>layer 10 'dense10' output max |x| = 1.9e+09 (limit 1e+06) at step 1, epoch 1</c>.</summary>
    public string Describe()
    {
        string where = Layer > 0 ? $"layer {Layer} '{Token}' {Quantity}" : Quantity;
        string what = double.IsNaN(Value) ? (Layer > 0 ? "contains NaN" : "is NaN")
            : double.IsInfinity(Value) ? (Layer > 0 ? "max |x| = inf" : "is infinite")
            : Layer > 0 ? $"max |x| = {Number(Value)} (limit {Number(Limit)})" : $"= {Number(Value)} (limit {Number(Limit)})";
        return $"{where} {what} at step {Step}, epoch {Epoch}";
    }

    private static string Number(double value) => value.ToString("G3", System.Globalization.CultureInfo.InvariantCulture).Replace("E", "e", StringComparison.Ordinal);

    /// <inheritdoc />
    public override string ToString() => Describe();
}

/// <summary>
/// Checks a training step for divergence, without allocating:
///   after the forward pass, every layer's output  max |a| must be finite and at most the limit;
///   after the backward pass, the loss must be finite and at most the limit, and every parameter
///     gradient finite and at most the limit (one pass: ‖g‖² per tensor, which also gives the
///     global norm for clipping; max |g| only when the norm is over the limit). Without clipping
///     the norm is not needed: one pass of max |g| clears a tensor whose max |g| is within the limit
///     (a kind the sum of squares never reports), the sum decides the others as before;
///     A gradient a layer folded into plain SGD's update (never written) is judged by the max |g| the layer
///     computed exactly from its factors (<see cref="Parameter{T}.FusedGradientMagnitude"/>);
///   before a checkpoint is written and at each epoch's end, every parameter max |w|.
/// An exploding or non-finite parameter also shows in the next step's outputs, so checking
/// the parameters on every step would only double the cost of the guard. Likewise the outputs
/// of layers that cannot exceed their input's largest magnitude or turn finite values into
/// NaN (activations, max pooling, flatten, crop) are not scanned: the layer before them was.
/// The max |x| scans of large tensors run on the kernels' threads (<see cref="Parallelism"/>), each
/// range's maximum kept apart and the largest taken: a maximum does not depend on the split.
/// </summary>
internal sealed class DivergenceGuard<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Network<T> network;
    private readonly Parameter<T>[] parameters;
    private readonly int[] layerOf;
    private readonly int[] scanned;
    private readonly double[] rangeMaxima = new double[2 * Parallelism.MaxThreads];

    public DivergenceGuard(Network<T> network, double limit)
    {
        this.network = network;
        Limit = limit > 0 ? limit : double.PositiveInfinity;
        scanned = Enumerable.Range(0, network.Layers.Count).Where(k => !CannotGrow(network.Layers[k])).ToArray();
        var list = new List<Parameter<T>>();
        var layers = new List<int>();
        for (int k = 0; k < network.Layers.Count; k++)
        {
            foreach (var p in network.Layers[k].Parameters)
            {
                list.Add(p);
                layers.Add(k);
            }
        }
        parameters = [.. list];
        layerOf = [.. layers];
    }

    /// <summary>The largest magnitude allowed; infinity when only NaN and infinity are caught.</summary>
    public double Limit { get; }

    private bool Broken(double magnitude) => !double.IsFinite(magnitude) || magnitude > Limit;

    private Divergence Found(long step, int epoch, int layer, string quantity, double value) =>
        new(step, epoch, layer + 1, network.Layers[layer].Token, quantity, value, Limit);

    private static double SerialMagnitude(ReadOnlySpan<T> values) => values.IsEmpty ? 0 : double.CreateChecked(T.Abs(TP.MaxMagnitude(values)));

    /// <summary>max |x| over <paramref name="values"/> (NaN when one is NaN), large spans in ranges on several threads (as large as <see cref="Kernels.ElementwiseKernels.Clear"/>'s).</summary>
    private double Magnitude(ReadOnlySpan<T> values)
    {
        int parts = Parallelism.ElementParts(values.Length / 4);
        if (parts == 1) return SerialMagnitude(values);
        var work = new MagnitudeWork { Values = values, Parts = parts, Maxima = rangeMaxima };
        Parallelism.For(parts, ref work);
        double max = 0;
        for (int p = 0; p < parts; p++)
        {
            double m = rangeMaxima[p];
            if (double.IsNaN(m)) return m;
            max = Math.Max(max, m);
        }
        return max;
    }

    private ref struct MagnitudeWork : IPartitionedWork
    {
        public ReadOnlySpan<T> Values;
        public int Parts;
        public double[] Maxima;

        public readonly void Run(int partition)
        {
            var (start, count) = Parallelism.Range(Values.Length, Parts, partition);
            Maxima[partition] = SerialMagnitude(Values.Slice(start, count));
        }
    }

    /// <summary>
    /// True for layers whose output is finite and no larger in magnitude than their input whenever
    /// the input is finite (<see cref="Layers.LayerTraits.Bounded"/>): max|relu(x)|, max|maxpool(x)| &lt;= max|x|;
    /// sigmoid and tanh are bounded. (A mean pool is scanned: its window sums can overflow when the limit is off.)
    /// </summary>
    private static bool CannotGrow(Layers.Layer<T> layer) => layer.Spec.Kind.Traits.HasFlag(Layers.LayerTraits.Bounded);

    /// <summary>Checks every layer's output of the last forward pass (batch of <paramref name="n"/>); the first bad one is reported.</summary>
    public Divergence? CheckOutputs(int n, long step, int epoch)
    {
        if (network.Share is { Split: true } share) return CheckSharedOutputs(share, n, step, epoch);
        foreach (int k in scanned)
        {
            double m = Magnitude(network.Activation(k + 1, n));
            if (Broken(m)) return Found(step, epoch, k, "output", m);
        }
        return null;
    }

    private double[] localMagnitudes = [], allMagnitudes = [];

    /// <summary>
    /// The same verdict for a batch shared by several processes: every layer's max |x| over this process's
    /// samples, exchanged, the whole batch's max (NaN when any is NaN) per layer: every process finds the same.
    /// </summary>
    private Divergence? CheckSharedOutputs(BatchShare share, int n, long step, int epoch)
    {
        int layers = scanned.Length, ranks = share.Reducer.Ranks;
        if (localMagnitudes.Length != layers) localMagnitudes = new double[layers];
        if (allMagnitudes.Length != layers * ranks) allMagnitudes = new double[layers * ranks];
        for (int i = 0; i < layers; i++) localMagnitudes[i] = Magnitude(network.Activation(scanned[i] + 1, n));
        share.GatherDoubles(localMagnitudes, allMagnitudes);
        for (int i = 0; i < layers; i++)
        {
            double m = 0;
            for (int r = 0; r < ranks; r++)
            {
                double v = allMagnitudes[r * layers + i];
                m = double.IsNaN(v) || double.IsNaN(m) ? double.NaN : Math.Max(m, v);
            }
            if (Broken(m)) return Found(step, epoch, scanned[i], "output", m);
        }
        return null;
    }

    /// <summary>Checks the mean loss of the step.</summary>
    public Divergence? CheckLoss(double loss, long step, int epoch) =>
        Broken(Math.Abs(loss)) ? new Divergence(step, epoch, 0, "", "loss", double.IsNaN(loss) ? loss : Math.Abs(loss), Limit) : null;

    /// <summary>
    /// Checks every gradient without the global norm (for steps that do not clip), with the verdict of
    /// <see cref="CheckGradients(long, int, out double)"/>: there a tensor can only be reported when its max |g|
    /// is NaN, infinite or over the limit, so a tensor whose max |g| is none of these passes here after one
    /// pass of max |g|; any other goes through ‖g‖² as there.
    /// </summary>
    public Divergence? CheckGradients(long step, int epoch)
    {
        for (int i = 0; i < parameters.Length; i++)
        {
            if (parameters[i].Fused)
            {
                // A layer that folds plain SGD's update into its backward pass wrote no gradient; it computed its
                // max |g| exactly from the gradient's factors (the same verdict as the scan of the written gradient).
                double fused = parameters[i].FusedGradientMagnitude;
                if (Broken(fused)) return Found(step, epoch, layerOf[i], parameters[i].Name + " gradient", fused);
                continue;
            }
            if (!Broken(Magnitude(parameters[i].Gradient))) continue;
            if (CheckGradient(i, step, epoch, out _) is { } bad) return bad;
        }
        return null;
    }

    /// <summary>Checks every gradient; on success <paramref name="norm"/> is the global L2 norm of all gradients.</summary>
    public Divergence? CheckGradients(long step, int epoch, out double norm)
    {
        double total = 0;
        for (int i = 0; i < parameters.Length; i++)
        {
            if (parameters[i].Fused) throw new InvalidOperationException($"{parameters[i].Name} of layer {layerOf[i] + 1}: its gradient was folded into the update, so the gradients have no norm");
            if (CheckGradient(i, step, epoch, out double squares) is { } bad)
            {
                norm = double.NaN;
                return bad;
            }
            total += squares;
        }
        norm = Math.Sqrt(total);
        return null;
    }

    /// <summary>Checks gradient <paramref name="i"/>; on success <paramref name="squares"/> is its ‖g‖².</summary>
    private Divergence? CheckGradient(int i, long step, int epoch, out double squares)
    {
        ReadOnlySpan<T> g = parameters[i].Gradient;
        squares = double.CreateChecked(Kernels.Reductions.SumOfSquares(g)); // the canonical order: the same norm on every width
        if (!double.IsFinite(squares) || Math.Sqrt(squares) > Limit)
        {
            // Rare path: find out whether an element is bad, or only the sum overflowed T.
            double m = Magnitude(g);
            if (Broken(m)) return Found(step, epoch, layerOf[i], parameters[i].Name + " gradient", m);
            squares = 0;
            foreach (T v in g) squares += double.CreateChecked(v) * double.CreateChecked(v);
        }
        return null;
    }

    /// <summary>Checks every parameter's values.</summary>
    public Divergence? CheckParameters(long step, int epoch)
    {
        for (int i = 0; i < parameters.Length; i++)
        {
            double m = Magnitude(parameters[i].Value);
            if (Broken(m)) return Found(step, epoch, layerOf[i], parameters[i].Name, m);
        }
        return null;
    }

    /// <summary>Scales every gradient by <paramref name="maxNorm"/> / <paramref name="norm"/> when the norm is larger (global-norm clipping).</summary>
    public bool Clip(double norm, double maxNorm)
    {
        if (!(norm > maxNorm)) return false;
        T scale = T.CreateChecked(maxNorm / norm);
        foreach (var p in parameters) TP.Multiply(p.Gradient, scale, p.Gradient);
        return true;
    }
}
