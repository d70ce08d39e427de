using System.Text.RegularExpressions;
using SharpCnn.Formats.Onnx;
using SharpCnn.Tensors;

namespace SharpCnn.Layers;

/// <summary>
/// Augmentation: random crop after zero padding (torchvision's <c>RandomCrop(size, padding=p)</c>,
/// the usual CIFAR recipe). In training each sample's maps are padded with p zeros on every side
/// and an H x W window is cut at a random place, which is the same as moving the image by a random
/// (dy, dx) in [-p, p]² and filling the uncovered border with zeros; in evaluation the layer is the
/// identity, so a model keeps it and inference (and the ONNX export) ignores it.
///
/// Shapes: maps [N, C, H, W]; y has x's shape. All channels of a sample move together.
///
/// Forward (training): y[n,c,i,j] = x[n,c,i+dy_n,j+dx_n] where that lies inside the map, else 0
/// Backward (training): ∂L/∂x[n,c,i',j'] = ∂L/∂y[n,c,i'-dy_n,j'-dx_n] where that lies inside, else 0
/// Forward/backward (evaluation): y = x, ∂L/∂x = ∂L/∂y.
///
/// (dy_n, dx_n) are a pure function of (seed, step, n) (<see cref="RandomPlacement"/>), set by the
/// trainer before each step: a run is reproducible, the same on any thread count, and a resumed
/// run draws what the uninterrupted one drew. Nothing is allocated.
/// </summary>
public sealed class RandomCrop<T> : Layer<T>, IStepSeeded where T : unmanaged, IFloatingPointIeee754<T>
{
    private ulong key = RandomPlacement.StepKey(0, 0);
    private bool moved;

    /// <summary>Creates the augmentation with padding <paramref name="padding"/> (1 to 1,000 pixels).</summary>
    public RandomCrop(int padding)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(padding, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(padding, 1000);
        Padding = padding;
    }

    /// <summary>p: zeros added on each side before cropping; each sample moves by up to p pixels along each axis.</summary>
    public int Padding { get; }

    /// <inheritdoc />
    public override LayerSpec Spec => new RandomCropSpec(Padding);

    /// <inheritdoc />
    protected override Shape Configure(Shape input)
    {
        if (input.IsVector) throw new LayerShapeException($"a random crop moves image maps; its input is a vector of {input.Channels} values");
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
                if (backward) RandomPlacement.TranslateBack(from.Slice(at, plane), to.Slice(at, plane), h, w, oy, ox, edge: false);
                else RandomPlacement.Translate(from.Slice(at, plane), to.Slice(at, plane), h, w, oy, ox, edge: false);
            }
        }
    }
}

/// <summary>The description of a <see cref="RandomCrop{T}"/>: token <c>randcrop{p}</c>; nothing in ONNX (the identity at inference).</summary>
/// <param name="Padding">Zeros added on each side before the random crop.</param>
public sealed record RandomCropSpec(int Padding) : LayerSpec
{
    /// <inheritdoc />
    public override LayerKind Kind => RandomCropKind.Instance;

    /// <inheritdoc />
    public override string Token => $"randcrop{Padding}";

    /// <inheritdoc />
    public override Layer<T> Create<T>() => new RandomCrop<T>(Padding);

    /// <summary>No node: at inference the layer is the identity (ONNX models are inference graphs).</summary>
    internal override void ExportOnnx<T>(OnnxLayerExport<T> export, Layer<T> layer) => export.Unchanged();
}

/// <summary>The random-crop kind: grammar <c>randcrop{p}</c>; augmentation, the identity outside training.</summary>
public sealed partial class RandomCropKind : LayerKind
{
    /// <summary>The registered instance.</summary>
    public static RandomCropKind Instance { get; } = new();

    /// <inheritdoc />
    public override string Name => "randcrop";

    /// <inheritdoc />
    public override string Grammar => "randcrop{p}";

    /// <inheritdoc />
    public override string Summary => "augmentation: in training, pads each image with p zeros and crops it back at a random place (a random move by up to p pixels, zeros filling in); the identity in evaluation";

    /// <inheritdoc />
    public override LayerTraits Traits => LayerTraits.StepSeeded | LayerTraits.Bounded;

    /// <inheritdoc />
    public override LayerSpec? Parse(LayerToken token)
    {
        ArgumentNullException.ThrowIfNull(token);
        if (token.Head == "randcrop") throw token.Error("randcrop needs its padding: randcrop{p}, e.g. randcrop4");
        var m = Head().Match(token.Head);
        if (!m.Success) return null;
        int p = token.Size(m.Groups[1].Value);
        if (p > 1000) throw token.Error($"a padding of {p} is more than the 1000 pixels a random crop takes");
        token.RequireNoOptions();
        return new RandomCropSpec(p);
    }

    [GeneratedRegex(@"^randcrop(\d+)$")]
    private static partial Regex Head();
}
