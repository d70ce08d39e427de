using SharpCnn.Model;
using SharpCnn.Tensors;

namespace SharpCnn.Training;

/// <summary>
/// Per-layer statistics of training, the figures that show vanishing and exploding gradients as they happen
/// (TensorBoard's histograms, ConvNetJS's layer panels). Added to <see cref="Trainer{T}.StepHooks"/> (or
/// <see cref="TrainingStep{T}.Hooks"/>), it measures every <see cref="Every"/>-th step (steps 1, 1 + K, 1 + 2K, ...):
/// <list type="bullet">
/// <item>for each layer k, over the batch's outputs y of that layer (after the forward pass):
///   <see cref="MeanAbsActivation"/> = mean |y|, <see cref="MaxAbsActivation"/> = max |y| and
///   <see cref="ZeroFraction"/> = the fraction of outputs exactly 0 (for a ReLU: its dead outputs);</item>
/// <item>for each trained parameter tensor θ (<see cref="Parameters"/>): <see cref="GradientNorm"/> = ‖∂L/∂θ‖₂
///   of the batch (after the backward pass, before clipping) and <see cref="UpdateRatio"/> = ‖θ_after − θ_before‖₂ / ‖θ_before‖₂
///   (the update applied, clipping and learning rate included; NaN when ‖θ_before‖ = 0).</item>
/// </list>
/// Everything is held in arrays made once here, and the copy of θ before the update is preallocated: a step
/// allocates nothing and the training arithmetic is untouched (the statistics only read). After a measured step
/// whose update ran, <see cref="Measured"/> is raised on the training thread: read the arrays there.
/// A step the divergence guard stops before its update raises nothing (its activation figures stay filled in).
/// </summary>
public sealed class LayerStatistics<T> : ITrainingStepHook<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Network<T> network;
    private readonly Parameter<T>[] parameters;
    private readonly T[][] before;
    private bool measuring;

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

    void ITrainingStepHook<T>.BatchLoaded(TrainingStep<T> step, int n) => measuring = step.Optimizer.StepCount % Every == 0;

    void ITrainingStepHook<T>.Forwarded(TrainingStep<T> step, int n)
    {
        if (!measuring) return;
        for (int k = 0; k < MeanAbsActivation.Length; k++)
        {
            var y = network.Activation(k + 1, n);
            double sum = 0, max = 0;
            int zeros = 0;
            for (int i = 0; i < y.Length; i++)
            {
                double a = Math.Abs(double.CreateTruncating(y[i]));
                sum += a;
                if (a > max || double.IsNaN(a)) max = a;
                if (a == 0) zeros++;
            }
            MeanAbsActivation[k] = y.Length == 0 ? double.NaN : sum / y.Length;
            MaxAbsActivation[k] = max;
            ZeroFraction[k] = y.Length == 0 ? double.NaN : (double)zeros / y.Length;
        }
    }

    void ITrainingStepHook<T>.BackwardDone(TrainingStep<T> step, int n, double loss)
    {
        if (!measuring) return;
        for (int i = 0; i < parameters.Length; i++)
        {
            GradientNorm[i] = Norm(parameters[i].Gradient);
            parameters[i].Value.CopyTo(before[i], 0);
        }
    }

    void ITrainingStepHook<T>.Updated(TrainingStep<T> step, in StepResult result)
    {
        if (!measuring) return;
        measuring = false;
        for (int i = 0; i < parameters.Length; i++)
        {
            var now = parameters[i].Value;
            var old = before[i];
            double change = 0, size = 0;
            for (int j = 0; j < now.Length; j++)
            {
                double o = double.CreateTruncating(old[j]);
                double d = double.CreateTruncating(now[j]) - o;
                change += d * d;
                size += o * o;
            }
            UpdateRatio[i] = size > 0 ? Math.Sqrt(change) / Math.Sqrt(size) : double.NaN;
        }
        Step = step.Optimizer.StepCount;
        Measured?.Invoke(this);
    }

    private static double Norm(T[] values)
    {
        double sum = 0;
        for (int i = 0; i < values.Length; i++)
        {
            double v = double.CreateTruncating(values[i]);
            sum += v * v;
        }
        return Math.Sqrt(sum);
    }
}
