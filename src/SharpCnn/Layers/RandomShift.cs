using System.Text.RegularExpressions;
using SharpCnn.Formats.Onnx;
using SharpCnn.Tensors;

namespace SharpCnn.Layers;

/// <summary>
/// Augmentation: small random shifts (Keras's <c>RandomTranslation</c> with <c>fill_mode="nearest"</c>). In
/// training each sample's maps move by a random (dy, dx) in [-p, p]², and the pixels the move uncovers
/// repeat the nearest border pixel (no black band, unlike <see cref="RandomCrop{T}"/>); in evaluation the
/// layer is the identity.
///
/// Shapes: maps [N, C, H, W]; y has x's shape. All channels of a sample move together.
///
/// Forward (training): y[n,c,i,j] = x[n, c, clamp(i+dy_n, 0, H-1), clamp(j+dx_n, 0, W-1)]
/// Backward (training): ∂L/∂x[n,c,r,s] = Σ ∂L/∂y[n,c,i,j] over the (i, j) whose clamped source is (r, s)
///   (one term inside; the border pixels collect every position that repeats them)
/// Forward/backward (evaluation): y = x, ∂L/∂x = ∂L/∂y.
///
/// (dy_n, dx_n) are a pure function of (seed, step, n) (<see cref="RandomPlacement"/>), set by the
/// trainer before each step: reproducible, the same on any thread count, resumable bit for bit.
/// </summary>
public sealed class RandomShift<T> : Layer<T>, IStepSeeded where T : unmanaged, IFloatingPointIeee754<T>
{
    private ulong key = RandomPlacement.StepKey(0, 0);
    private bool moved;

    /// <summary>Creates the augmentation with shifts of up to <paramref name="padding"/> pixels (1 to 1,000).</summary>
    public RandomShift(int padding)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(padding, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(padding, 1000);
        Padding = padding;
    }

    /// <summary>p: each sample moves by up to p pixels along each axis.</summary>
    public int Padding { get; }

    /// <inheritdoc />
    public override LayerSpec Spec => new RandomShiftSpec(Padding);

    /// <inheritdoc />
    protected override Shape Configure(Shape input)
    {
        if (input.IsVector) throw new LayerShapeException($"a random shift moves image maps; its input is a vector of {input.Channels} values");
        return input;
    }

    /// <inheritdoc />
    public void SetStep(ulong seed, long step) => key = RandomPlacement.StepKey(seed, step);

    /// <summary>The offset (dy, dx) sample <paramref name="sample"/> of the batch gets at the current (seed, step).</summary>
    public (int Dy, int Dx) OffsetOf(int sample)
    {
        ulong h = RandomPlacement.SampleBits(key, sample);
        return (RandomPlacement.Offset((uint)(h >> 32), Padding), RandomPlacement.Offset((uint)h, Padding));
    }

    /// <inheritdoc />
    public override void Forward(ReadOnlySpan<T> x, Span<T> y, int n)
    {
        CheckForward(x, y, n);
        moved = Training;
        Move(x, y, n, backward: false);
    }

    /// <inheritdoc />
    public override void Backward(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int n)
    {
        CheckBackward(x, y, dy, dx, n);
        if (!dx.IsEmpty) Move(dy, dx, n, backward: true);
    }

    private void Move(ReadOnlySpan<T> from, Span<T> to, int n, bool backward)
    {
        int size = InputShape.Size;
        if (!moved)
        {
            from[..(n * size)].CopyTo(to);
            return;
        }
        int h = InputShape.Height, w = InputShape.Width, plane = h * w;
        for (int s = 0; s < n; s++)
        {
            var (oy, ox) = OffsetOf(FirstSample + s);
            for (int c = 0; c < InputShape.Channels; c++)
            {
                int at = s * size + c * plane;
                if (backward) RandomPlacement.TranslateBack(from.Slice(at, plane), to.Slice(at, plane), h, w, oy, ox, edge: true);
                else RandomPlacement.Translate(from.Slice(at, plane), to.Slice(at, plane), h, w, oy, ox, edge: true);
            }
        }
    }
}

/// <summary>The description of a <see cref="RandomShift{T}"/>: token <c>randshift{p}</c>; nothing in ONNX (the identity at inference).</summary>
/// <param name="Padding">The largest move along each axis, in pixels.</param>
public sealed record RandomShiftSpec(int Padding) : LayerSpec
{
    /// <inheritdoc />
    public override LayerKind Kind => RandomShiftKind.Instance;

    /// <inheritdoc />
    public override string Token => $"randshift{Padding}";

    /// <inheritdoc />
    public override Layer<T> Create<T>() => new RandomShift<T>(Padding);

    /// <summary>No node: at inference the layer is the identity (ONNX models are inference graphs).</summary>
    internal override void ExportOnnx<T>(OnnxLayerExport<T> export, Layer<T> layer) => export.Unchanged();
}

/// <summary>The random-shift kind: grammar <c>randshift{p}</c>; augmentation, the identity outside training.</summary>
public sealed partial class RandomShiftKind : LayerKind
{
    /// <summary>The registered instance.</summary>
    public static RandomShiftKind Instance { get; } = new();

    /// <inheritdoc />
    public override string Name => "randshift";

    /// <inheritdoc />
    public override string Grammar => "randshift{p}";

    /// <inheritdoc />
    public override string Summary => "augmentation: in training, moves each image by up to p pixels along each axis at random, the uncovered border repeating the nearest edge pixel; the identity in evaluation";

    /// <inheritdoc />
    public override LayerTraits Traits => LayerTraits.StepSeeded | LayerTraits.Bounded;

    /// <inheritdoc />
    public override LayerSpec? Parse(LayerToken token)
    {
        ArgumentNullException.ThrowIfNull(token);
        if (token.Head == "randshift") throw token.Error("randshift needs its largest move: randshift{p}, e.g. randshift2");
        var m = Head().Match(token.Head);
        if (!m.Success) return null;
        int p = token.Size(m.Groups[1].Value);
        if (p > 1000) throw token.Error($"a move of {p} is more than the 1000 pixels a random shift takes");
        token.RequireNoOptions();
        return new RandomShiftSpec(p);
    }

    [GeneratedRegex(@"^randshift(\d+)$")]
    private static partial Regex Head();
}
