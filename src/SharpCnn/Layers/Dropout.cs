using System.Globalization;
using System.Text.RegularExpressions;
using SharpCnn.Formats.Onnx;
using SharpCnn.Formats.Onnx.Proto;
using SharpCnn.Kernels;
using SharpCnn.Tensors;

namespace SharpCnn.Layers;

/// <summary>
/// Inverted dropout with rate p: in training each value is kept with probability 1 - p and
/// scaled by 1/(1 - p), so that the expected output equals the input and evaluation needs
/// no rescaling; in evaluation mode the layer is the identity.
///
/// Shapes: any; y has x's shape.
///
/// Forward (training):  y_i = x_i · k_i / (1 - p),   k_i = [u_i ≥ p] ∈ {0, 1}
/// Backward (training): ∂L/∂x_i = ∂L/∂y_i · k_i / (1 - p)     (y is linear in x for a fixed mask)
/// Forward/backward (evaluation): y = x, ∂L/∂x = ∂L/∂y.
///
/// The mask is a pure function of (seed, step, i), with i the element's index in the batch
/// (i = n·D + j, n the sample's index in the whole batch when the batch is shared by several processes): u_i = the top 53 bits of SplitMix64's finaliser applied to a per-step key plus
/// i times the golden-ratio constant, i.e. a counter-based hash, not a stateful generator.
/// The trainer sets (seed, step) before each training forward (<see cref="IStepSeeded"/>);
/// Backward recomputes the same mask, so nothing is stored between the two, and any step
/// of a resumed run draws exactly the mask it drew the first time.
/// </summary>
public sealed class Dropout<T> : Layer<T>, IStepSeeded where T : unmanaged, IFloatingPointIeee754<T>
{
    private const ulong Golden = 0x9E3779B97F4A7C15UL;
    private ulong key = StepKey(0, 0);
    private bool dropped;

    /// <summary>Creates dropout with rate <paramref name="rate"/> (the probability of dropping a value, 0 ≤ p &lt; 1).</summary>
    public Dropout(double rate)
    {
        if (!(rate >= 0 && rate < 1)) throw new ArgumentOutOfRangeException(nameof(rate), rate, $"dropout rate {rate.ToString(CultureInfo.InvariantCulture)} is outside [0, 1)");
        Rate = rate;
        // Keep when the 53-bit uniform integer is at least p · 2⁵³ (so P(keep) = 1 - p up to 2⁻⁵³).
        Threshold = (ulong)Math.Ceiling(rate * (1UL << 53));
    }

    /// <summary>p, the probability of dropping a value in training.</summary>
    public double Rate { get; }

    /// <summary>The keep threshold on 53-bit uniform integers: keep when u ≥ it.</summary>
    private ulong Threshold { get; }

    /// <summary>The seed last set by <see cref="SetStep"/> (0 until then).</summary>
    public ulong Seed { get; private set; }

    /// <summary>The step last set by <see cref="SetStep"/> (0 until then).</summary>
    public long Step { get; private set; }

    /// <inheritdoc />
    public override LayerSpec Spec => new DropoutSpec(Rate);

    /// <inheritdoc />
    protected override Shape Configure(Shape input) => input;

    /// <inheritdoc />
    public override long ForwardFlops => InputShape.Size;

    /// <inheritdoc />
    public void SetStep(ulong seed, long step)
    {
        Seed = seed;
        Step = step;
        key = StepKey(seed, step);
    }

    /// <summary>True when element <paramref name="index"/> of the batch is kept at the current (seed, step).</summary>
    public bool Keeps(long index) => (Mix(key + (ulong)index * Golden) >> 11) >= Threshold;

    /// <inheritdoc />
    public override void Forward(ReadOnlySpan<T> x, Span<T> y, int n)
    {
        CheckForward(x, y, n);
        int len = n * InputShape.Size;
        dropped = Training && Rate != 0;
        if (!dropped)
        {
            x[..len].CopyTo(y);
            return;
        }
        Apply(x[..len], y);
    }

    /// <inheritdoc />
    public override void Backward(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int n)
    {
        CheckBackward(x, y, dy, dx, n);
        if (dx.IsEmpty) return;
        int len = n * InputShape.Size;
        if (!dropped)
        {
            dy[..len].CopyTo(dx);
            return;
        }
        Apply(dy[..len], dx);
    }

    /// <summary>to_i = from_i · k_i / (1 - p) with the current mask, element ranges on several threads.</summary>
    private void Apply(ReadOnlySpan<T> from, Span<T> to)
    {
        var work = new ApplyWork
        {
            From = from, To = to, Key = key, Threshold = Threshold, Scale = T.One / (T.One - T.CreateChecked(Rate)),
            First = (ulong)FirstSample * (ulong)InputShape.Size, // the global index of this process's first value
            Parts = Parallelism.ElementParts(from.Length),
        };
        Parallelism.For(work.Parts, ref work);
    }

    private ref struct ApplyWork : IPartitionedWork
    {
        public ReadOnlySpan<T> From;
        public Span<T> To;
        public ulong Key, Threshold, First;
        public T Scale;
        public int Parts;

        public readonly void Run(int partition)
        {
            var (start, count) = Parallelism.Range(From.Length, Parts, partition);
            MaskKernels.Apply(From.Slice(start, count), To.Slice(start, count), Key, First + (ulong)start, Threshold, Scale);
        }
    }

    private static ulong StepKey(ulong seed, long step) => Mix(seed ^ Mix((ulong)step + Golden));

    /// <summary>SplitMix64's finaliser: a bijective 64-bit mix with full avalanche.</summary>
    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}

/// <summary>The description of a <see cref="Dropout{T}"/>: token <c>dropout{p}</c>, e.g. <c>dropout0.5</c>; ONNX <c>Dropout</c> in inference form.</summary>
/// <param name="Rate">p, the probability of dropping a value in training (0 ≤ p &lt; 1).</param>
public sealed record DropoutSpec(double Rate) : LayerSpec
{
    /// <inheritdoc />
    public override LayerKind Kind => DropoutKind.Instance;

    /// <inheritdoc />
    public override string Token => "dropout" + LayerToken.Format(Rate); // 1e-05, not 1E-05

    /// <inheritdoc />
    public override Layer<T> Create<T>() => new Dropout<T>(Rate);

    /// <summary>
    /// Dropout with its rate as the ratio input and no training_mode, which ONNX defines as inference: the
    /// identity. Written rather than left out so the architecture survives a round trip (the importer reads
    /// it back as the same dropout layer, a PyTorch-based reader as nn.Dropout), and ONNX Runtime runs it as
    /// the identity with its graph optimizations on or off (tests/onnx-check).
    /// </summary>
    internal override void ExportOnnx<T>(OnnxLayerExport<T> export, Layer<T> layer)
    {
        string ratio = export.Floats("ratio", [], [(float)Rate]);
        export.Emit(export.Node("Dropout", "dropout", [export.Input, ratio]), export.Flat);
    }
}

/// <summary>The dropout kind: grammar <c>dropout{p}</c>; imports ONNX <c>Dropout</c> in inference form.</summary>
public sealed partial class DropoutKind : LayerKind
{
    /// <summary>The registered instance.</summary>
    public static DropoutKind Instance { get; } = new();

    /// <inheritdoc />
    public override string Name => "dropout";

    /// <inheritdoc />
    public override string Grammar => "dropout{p}";

    /// <inheritdoc />
    public override string Summary => "inverted dropout: in training each value is dropped with probability p (0 <= p < 1) and the rest scaled by 1/(1-p); the identity in evaluation";

    /// <inheritdoc />
    public override LayerTraits Traits => LayerTraits.StepSeeded | LayerTraits.Elementwise;

    /// <inheritdoc />
    public override LayerSpec? Parse(LayerToken token)
    {
        ArgumentNullException.ThrowIfNull(token);
        if (token.Head == "dropout") throw token.Error("dropout needs a rate: dropout{p} with 0 <= p < 1, e.g. dropout0.5");
        var m = Head().Match(token.Head);
        if (!m.Success) return null;
        double rate = token.Number(m.Groups[1].Value, "dropout rate");
        if (!(rate < 1)) throw token.Error($"dropout rate {m.Groups[1].Value} is not below 1 (a rate of 1 would drop everything)");
        token.RequireNoOptions();
        return new DropoutSpec(rate);
    }

    /// <inheritdoc />
    internal override IReadOnlyList<string> OnnxOperators => ["Dropout"];

    /// <summary>
    /// Dropout at inference (the identity) → <c>dropout{p}</c> with the node's ratio (attribute before
    /// operator set 12, input since; 0.5 when absent), which is also the identity in evaluation and keeps
    /// the rate for further training. Training mode is refused.
    /// </summary>
    internal override void ImportOnnx(OnnxGraphImporter import, NodeProto node)
    {
        var a = import.Opset < 12 ? import.Attributes(node, "ratio", "is_test") : import.Attributes(node, "seed");
        import.RequireInputs(node, 1, import.Opset < 12 ? 1 : 3);
        import.AllowUnusedExtraOutputs(node, 2);
        if (import.ConstantInput(node, 2, "training_mode", required: false) is { } mode)
        {
            bool training = mode.DataType == (int)TensorProto.Types.DataType.Bool
                ? (mode.HasRawData ? mode.RawData.Span.IndexOfAnyExcept((byte)0) >= 0 : mode.Int32Data.Any(v => v != 0))
                : throw import.NodeFail($"training_mode '{mode.Name}' is {OnnxTensorData.TypeName(mode.DataType)}, expected bool");
            if (training) throw import.NodeFail("runs in training mode; SharpCnn imports inference graphs (training_mode false)");
        }
        double ratio = 0.5;
        if (import.Opset < 12)
        {
            if (a.Has("ratio")) ratio = OnnxGraphImporter.ShortestDecimal(a.Float("ratio", 0.5f), r => (float)r == a.Float("ratio", 0.5f));
        }
        else if (import.ConstantInput(node, 1, "ratio", required: false) is { } r)
        {
            ratio = import.Reals(r, "ratio") switch
            {
                [var v] => r.DataType == (int)TensorProto.Types.DataType.Double ? v : OnnxGraphImporter.ShortestDecimal(v, d => (float)d == (float)v),
                var vs => throw import.NodeFail($"ratio '{r.Name}' has {vs.Length} values, expected one"),
            };
        }
        if (!(ratio >= 0 && ratio < 1)) throw import.NodeFail($"has ratio {ratio}; a dropout rate is in [0, 1)");
        import.AddLayer(new DropoutSpec(ratio), [], node);
    }

    [GeneratedRegex(@"^dropout(.+)$")]
    private static partial Regex Head();
}
