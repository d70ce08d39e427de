using System.Diagnostics;
using System.Numerics;
using System.Numerics.Tensors;
using SharpCnn.Model;
using SharpCnn.Tensors;

namespace SharpCnn.Training;

/// <summary>
/// Per-layer statistics of training, the figures that show vanishing and exploding gradients as they happen
/// (TensorBoard's histograms, ConvNetJS's layer panels). Added to <see cref="Trainer{T}.StepHooks"/> (or
/// <see cref="TrainingStep{T}.Hooks"/>), it measures every <see cref="Every"/>-th step (steps 1, 1 + K, 1 + 2K, ...),
/// and with a <see cref="MinInterval"/> only those of them at least that long after the last measurement (a time
/// budget: a page that shows one figure a second needs one measurement a second, whatever the step rate):
/// <list type="bullet">
/// <item>for each layer k, over the batch's outputs y of that layer (after the forward pass):
///   <see cref="MeanAbsActivation"/> = mean |y|, <see cref="MaxAbsActivation"/> = max |y| and
///   <see cref="ZeroFraction"/> = the fraction of outputs exactly 0 (for a ReLU: its dead outputs);</item>
/// <item>for each trained parameter tensor θ (<see cref="Parameters"/>): <see cref="GradientNorm"/> = ‖∂L/∂θ‖₂
///   of the batch (after the backward pass, before clipping) and <see cref="UpdateRatio"/> = ‖θ_after − θ_before‖₂ / ‖θ_before‖₂
///   (the update applied, clipping and learning rate included; NaN when ‖θ_before‖ = 0).</item>
/// </list>
/// Everything is held in arrays made once here, and the copy of θ before the update is preallocated: a step
/// allocates nothing and the training arithmetic is untouched (the statistics only read). The reductions are
/// vectorised (System.Numerics.Tensors over the spans; a measured step costs a few passes over the activations,
/// gradients and weights, a step that is not measured one comparison). After a measured step
/// whose update ran, <see cref="Measured"/> is raised on the training thread: read the arrays there.
/// A step the divergence guard stops before its update raises nothing (its activation figures stay filled in).
/// </summary>
public sealed class LayerStatistics<T> : ITrainingStepHook<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Network<T> network;
    private readonly Parameter<T>[] parameters;
    private readonly T[][] before;
    private bool measuring;
    private long lastMeasured = long.MinValue;

    /// <summary>Watches <paramref name="network"/> every <paramref name="every"/> steps.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="every"/> is less than 1.</exception>
    public LayerStatistics(Network<T> network, int every = 10)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentOutOfRangeException.ThrowIfLessThan(every, 1);
        this.network = network;
        Every = every;
        int layers = network.Layers.Count;
        LayerNames = network.Layers.Select((l, k) => $"{k + 1} {l.Token}").ToArray();
        MeanAbsActivation = new double[layers];
        MaxAbsActivation = new double[layers];
        ZeroFraction = new double[layers];
        var trained = new List<Parameter<T>>();
        var owners = new List<int>();
        for (int k = 0; k < layers; k++)
            foreach (var p in network.Layers[k].Parameters)
                if (p.IsTrained)
                {
                    trained.Add(p);
                    owners.Add(k);
                }
        parameters = [.. trained];
        ParameterLayer = [.. owners];
        Parameters = parameters.Select((p, i) => $"{ParameterLayer[i] + 1} {network.Layers[ParameterLayer[i]].Token} {p.Name}").ToArray();
        before = parameters.Select(p => new T[p.Length]).ToArray();
        GradientNorm = new double[parameters.Length];
        UpdateRatio = new double[parameters.Length];
        Array.Fill(MeanAbsActivation, double.NaN);
        Array.Fill(MaxAbsActivation, double.NaN);
        Array.Fill(ZeroFraction, double.NaN);
        Array.Fill(GradientNorm, double.NaN);
        Array.Fill(UpdateRatio, double.NaN);
    }

    /// <summary>Steps between measurements (K).</summary>
    public int Every { get; }

    /// <summary>Time spent measuring (the measured steps' passes over activations, gradients and weights, and the <see cref="Measured"/> handlers).</summary>
    public TimeSpan Cost => Stopwatch.GetElapsedTime(0, costTicks);

    private long costTicks;

    /// <summary>
    /// False to measure no step at all (e.g. while no one looks at the figures); true by default. Read at each step's
    /// start: a step that begins after it is set back to true is measured (the interval counts from the last measurement).
    /// </summary>
    public bool Enabled
    {
        get => Volatile.Read(ref enabled);
        set => Volatile.Write(ref enabled, value);
    }

    private bool enabled = true;

    /// <summary>Least time between two measurements (zero, the default: every K-th step is measured).</summary>
    public TimeSpan MinInterval { get; init; }

    /// <summary>The step the figures are of (0 before the first measurement).</summary>
    public long Step { get; private set; }

    /// <summary>Each layer's name: its 1-based position and token, e.g. "2 relu".</summary>
    public IReadOnlyList<string> LayerNames { get; }

    /// <summary>Per layer: mean |y| over the batch's outputs of the layer.</summary>
    public double[] MeanAbsActivation { get; }

    /// <summary>Per layer: max |y| over the batch's outputs of the layer.</summary>
    public double[] MaxAbsActivation { get; }

    /// <summary>Per layer: the fraction of the batch's outputs that are exactly 0 (a ReLU's dead outputs).</summary>
    public double[] ZeroFraction { get; }

    /// <summary>Each trained parameter tensor's name: layer position, token and tensor name, e.g. "1 conv5x5x6 weight".</summary>
    public IReadOnlyList<string> Parameters { get; }

    /// <summary>Per parameter tensor: the 0-based index of its layer.</summary>
    public int[] ParameterLayer { get; }

    /// <summary>Per parameter tensor: ‖∂L/∂θ‖₂ of the measured step's batch, before clipping.</summary>
    public double[] GradientNorm { get; }

    /// <summary>Per parameter tensor: ‖Δθ‖₂ / ‖θ‖₂ of the measured step's update (θ before the update).</summary>
    public double[] UpdateRatio { get; }

    /// <summary>Raised on the training thread after each measured step's update, with the figures filled in.</summary>
    public event Action<LayerStatistics<T>>? Measured;

    void ITrainingStepHook<T>.BatchLoaded(TrainingStep<T> step, int n)
    {
        measuring = step.Optimizer.StepCount % Every == 0 && Enabled;
        if (!measuring || MinInterval <= TimeSpan.Zero) return;
        long now = Stopwatch.GetTimestamp();
        if (lastMeasured != long.MinValue && Stopwatch.GetElapsedTime(lastMeasured, now) < MinInterval) measuring = false;
        else lastMeasured = now;
    }

    void ITrainingStepHook<T>.Forwarded(TrainingStep<T> step, int n)
    {
        if (!measuring) return;
        long start = Stopwatch.GetTimestamp();
        for (int k = 0; k < MeanAbsActivation.Length; k++)
        {
            ReadOnlySpan<T> y = network.Activation(k + 1, n);
            if (y.Length == 0)
            {
                MeanAbsActivation[k] = MaxAbsActivation[k] = ZeroFraction[k] = double.NaN;
                continue;
            }
            MeanAbsActivation[k] = double.CreateTruncating(TensorPrimitives.SumOfMagnitudes(y)) / y.Length;
            // MaxMagnitude returns NaN when there is one, as the figure should.
            MaxAbsActivation[k] = Math.Abs(double.CreateTruncating(TensorPrimitives.MaxMagnitude(y)));
            ZeroFraction[k] = (double)Zeros(y) / y.Length;
        }
        costTicks += Stopwatch.GetTimestamp() - start;
    }

    void ITrainingStepHook<T>.BackwardDone(TrainingStep<T> step, int n, double loss)
    {
        if (!measuring) return;
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < parameters.Length; i++)
        {
            GradientNorm[i] = Norm(parameters[i].Gradient);
            parameters[i].Value.CopyTo(before[i], 0);
        }
        costTicks += Stopwatch.GetTimestamp() - start;
    }

    void ITrainingStepHook<T>.Updated(TrainingStep<T> step, in StepResult result)
    {
        if (!measuring) return;
        measuring = false;
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < parameters.Length; i++)
        {
            double change = double.CreateTruncating(TensorPrimitives.Distance<T>(parameters[i].Value, before[i]));
            double size = Norm(before[i]);
            UpdateRatio[i] = size > 0 ? change / size : double.NaN;
        }
        Step = step.Optimizer.StepCount;
        Measured?.Invoke(this);
        costTicks += Stopwatch.GetTimestamp() - start;
    }

    private static double Norm(ReadOnlySpan<T> values) => values.IsEmpty ? 0 : double.CreateTruncating(TensorPrimitives.Norm(values));

    /// <summary>How many of <paramref name="values"/> are exactly 0 (vectorised: each lane counts its zeros).</summary>
    internal static long Zeros(ReadOnlySpan<T> values)
    {
        long zeros = 0;
        int i = 0;
        if (Vector.IsHardwareAccelerated && values.Length >= Vector<T>.Count)
        {
            // A lane's count stays exact in T up to 2^24 (float); count in blocks well below that.
            const int Block = 1 << 20;
            while (i <= values.Length - Vector<T>.Count)
            {
                var counts = Vector<T>.Zero;
                int end = Math.Min(values.Length - Vector<T>.Count, i + Block);
                for (; i <= end; i += Vector<T>.Count)
                {
                    var v = new Vector<T>(values.Slice(i, Vector<T>.Count));
                    counts += Vector.ConditionalSelect(Vector.Equals(v, Vector<T>.Zero), Vector<T>.One, Vector<T>.Zero);
                }
                zeros += long.CreateTruncating(Vector.Sum(counts));
            }
        }
        for (; i < values.Length; i++)
            if (values[i] == T.Zero) zeros++;
        return zeros;
    }
}
