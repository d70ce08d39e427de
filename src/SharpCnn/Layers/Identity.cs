using SharpCnn.Formats.Onnx;
using SharpCnn.Formats.Onnx.Proto;
using SharpCnn.Tensors;

namespace SharpCnn.Layers;

/// <summary>
/// The identity activation (a layer with no activation, written explicitly).
///
/// Forward:  y = x
/// Backward: ∂L/∂x = ∂L/∂y
/// </summary>
public sealed class Identity<T> : Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc />
    public override LayerSpec Spec => IdentitySpec.Instance;

    /// <inheritdoc />
    protected override Shape Configure(Shape input) => input;

    /// <inheritdoc />
    public override void Forward(ReadOnlySpan<T> x, Span<T> y, int n)
    {
        CheckForward(x, y, n);
        int len = n * InputShape.Size;
        x[..len].CopyTo(y);
    }

    /// <inheritdoc />
    public override void Backward(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int n)
    {
        CheckBackward(x, y, dy, dx, n);
        if (dx.IsEmpty) return;
        int len = n * InputShape.Size;
        dy[..len].CopyTo(dx);
    }
}

/// <summary>The description of a <see cref="Identity{T}"/>: token <c>identity</c> (or <c>linear</c>).</summary>
public sealed record IdentitySpec : LayerSpec
{
    /// <summary>The one description of this kind (it has no options).</summary>
    public static IdentitySpec Instance { get; } = new();

    /// <inheritdoc />
    public override LayerKind Kind => IdentityKind.Instance;

    /// <inheritdoc />
    public override string Token => "identity";

    /// <inheritdoc />
    public override Layer<T> Create<T>() => new Identity<T>();

    /// <summary>Nothing: the output is the input's tensor.</summary>
    internal override void ExportOnnx<T>(OnnxLayerExport<T> export, Layer<T> layer) => export.Unchanged();
}

/// <summary>The identity kind: token <c>identity</c>.</summary>
public sealed class IdentityKind() : WordLayerKind<IdentitySpec>("identity", "linear")
{
    /// <summary>The registered instance.</summary>
    public static IdentityKind Instance { get; } = new();

    /// <inheritdoc />
    protected override IdentitySpec Description => IdentitySpec.Instance;

    /// <inheritdoc />
    public override string Summary => "y = x (a placeholder, e.g. the seeds' linear output)";

    /// <inheritdoc />
    public override LayerTraits Traits => LayerTraits.Bounded | LayerTraits.Elementwise;

    /// <inheritdoc />
    internal override IReadOnlyList<string> OnnxOperators => ["Identity"];

    /// <summary>Identity changes nothing: no layer (the previous layer's output moves on with it).</summary>
    internal override void ImportOnnx(OnnxGraphImporter import, NodeProto node) => import.PassThrough(node, []);
}
