using SharpCnn.Formats.Onnx;
using SharpCnn.Tensors;

namespace SharpCnn.Layers;

/// <summary>
/// Augmentation: random horizontal flip (torchvision's <c>RandomHorizontalFlip()</c>, Keras's
/// <c>RandomFlip("horizontal")</c>). In training each sample is mirrored left to right with
/// probability 1/2; in evaluation the layer is the identity.
///
/// Shapes: maps [N, C, H, W]; y has x's shape. All channels of a sample flip together.
///
/// Forward (training): y[n,c,i,j] = x[n,c,i,W-1-j] when f_n = 1, else x[n,c,i,j]
/// Backward (training): ∂L/∂x[n,c,i,j] = ∂L/∂y[n,c,i,W-1-j] when f_n = 1, else ∂L/∂y[n,c,i,j]
///   (a flip is its own inverse and its own transpose)
/// Forward/backward (evaluation): y = x, ∂L/∂x = ∂L/∂y.
///
/// f_n is the top bit of the per-sample hash of (seed, step, n) (<see cref="RandomPlacement"/>):
/// reproducible, the same on any thread count, resumable bit for bit.
/// </summary>
public sealed class RandomFlip<T> : Layer<T>, IStepSeeded where T : unmanaged, IFloatingPointIeee754<T>
{
    private ulong key = RandomPlacement.StepKey(0, 0);
    private bool active;

    /// <inheritdoc />
    public override LayerSpec Spec => RandomFlipSpec.Instance;

    /// <inheritdoc />
    protected override Shape Configure(Shape input)
    {
        if (input.IsVector) throw new LayerShapeException($"a random flip mirrors image maps; its input is a vector of {input.Channels} values");
        return input;
    }

    /// <inheritdoc />
    public void SetStep(ulong seed, long step) => key = RandomPlacement.StepKey(seed, step);

    /// <summary>True when sample <paramref name="sample"/> of the batch is mirrored at the current (seed, step).</summary>
    public bool Flips(int sample) => RandomPlacement.SampleBits(key, sample) >> 63 != 0;

    /// <inheritdoc />
    public override void Forward(ReadOnlySpan<T> x, Span<T> y, int n)
    {
        CheckForward(x, y, n);
        active = Training;
        Mirror(x, y, n);
    }

    /// <inheritdoc />
    public override void Backward(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int n)
    {
        CheckBackward(x, y, dy, dx, n);
        if (!dx.IsEmpty) Mirror(dy, dx, n);
    }

    private void Mirror(ReadOnlySpan<T> from, Span<T> to, int n)
    {
        int size = InputShape.Size, w = InputShape.Width;
        for (int s = 0; s < n; s++)
        {
            var source = from.Slice(s * size, size);
            var target = to.Slice(s * size, size);
            source.CopyTo(target);
            if (!active || !Flips(FirstSample + s)) continue;
            for (int row = 0; row < size; row += w) target.Slice(row, w).Reverse();
        }
    }
}

/// <summary>The description of a <see cref="RandomFlip{T}"/>: token <c>randflip</c>; nothing in ONNX (the identity at inference).</summary>
public sealed record RandomFlipSpec : LayerSpec
{
    /// <summary>The one description (the layer has no options).</summary>
    public static RandomFlipSpec Instance { get; } = new();

    private RandomFlipSpec() { }

    /// <inheritdoc />
    public override LayerKind Kind => RandomFlipKind.Instance;

    /// <inheritdoc />
    public override string Token => "randflip";

    /// <inheritdoc />
    public override Layer<T> Create<T>() => new RandomFlip<T>();

    /// <summary>No node: at inference the layer is the identity (ONNX models are inference graphs).</summary>
    internal override void ExportOnnx<T>(OnnxLayerExport<T> export, Layer<T> layer) => export.Unchanged();
}

/// <summary>The random-flip kind: grammar <c>randflip</c>; augmentation, the identity outside training.</summary>
public sealed class RandomFlipKind() : WordLayerKind<RandomFlipSpec>("randflip")
{
    /// <summary>The registered instance.</summary>
    public static RandomFlipKind Instance { get; } = new();

    /// <inheritdoc />
    protected override RandomFlipSpec Description => RandomFlipSpec.Instance;

    /// <inheritdoc />
    public override string Summary => "augmentation: in training, mirrors each image left to right with probability 1/2; the identity in evaluation";

    /// <inheritdoc />
    public override LayerTraits Traits => LayerTraits.StepSeeded | LayerTraits.Bounded;
}
