using SharpCnn.Formats.Onnx;
using SharpCnn.Formats.Onnx.Proto;
using SharpCnn.Tensors;

namespace SharpCnn.Layers;

/// <summary>
/// Flatten (seed 003's rasterisation): feature maps [N, C, H, W] become vectors
/// [N, C·H·W] in row-major order (channel, then row, then column). In NCHW memory the
/// values do not move, so both passes are copies:
///
/// Forward:  y[n, (c·H + h)·W + w] = x[n, c, h, w]
/// Backward: ∂L/∂x[n, c, h, w] = ∂L/∂y[n, (c·H + h)·W + w]
/// </summary>
public sealed class Flatten<T> : Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc />
    public override LayerSpec Spec => FlattenSpec.Instance;

    /// <inheritdoc />
    protected override Shape Configure(Shape input) => Shape.Vector(input.Size);

    /// <inheritdoc />
    internal override InferenceFusion InferenceRole => InferenceFusion.SameValues;

    /// <inheritdoc />
    public override void Forward(ReadOnlySpan<T> x, Span<T> y, int n)
    {
        CheckForward(x, y, n);
        Kernels.ElementwiseKernels.Copy(x[..(n * InputShape.Size)], y); // large batches in ranges on several threads
    }

    /// <inheritdoc />
    public override void Backward(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int n)
    {
        CheckBackward(x, y, dy, dx, n);
        if (dx.IsEmpty) return;
        Kernels.ElementwiseKernels.Copy(dy[..(n * InputShape.Size)], dx);
    }
}

/// <summary>The description of a <see cref="Flatten{T}"/>: token <c>flatten</c>; ONNX <c>Flatten</c> (axis 1).</summary>
public sealed record FlattenSpec : LayerSpec
{
    /// <summary>The one description of this kind (it has no options).</summary>
    public static FlattenSpec Instance { get; } = new();

    /// <inheritdoc />
    public override LayerKind Kind => FlattenKind.Instance;

    /// <inheritdoc />
    public override string Token => "flatten";

    /// <inheritdoc />
    public override Layer<T> Create<T>() => new Flatten<T>();

    /// <summary>Flatten (axis 1), or nothing when the activation is already [N, D].</summary>
    internal override void ExportOnnx<T>(OnnxLayerExport<T> export, Layer<T> layer) => export.Emit(export.AsVector(), flat: true);
}

/// <summary>The flatten kind: token <c>flatten</c>; imports ONNX <c>Flatten</c> and a <c>Reshape</c> to [N, D].</summary>
public sealed class FlattenKind() : WordLayerKind<FlattenSpec>("flatten")
{
    /// <summary>The registered instance.</summary>
    public static FlattenKind Instance { get; } = new();

    /// <inheritdoc />
    protected override FlattenSpec Description => FlattenSpec.Instance;

    /// <inheritdoc />
    public override string Summary => "maps [C, H, W] to a vector of C·H·W values (row-major)";

    /// <inheritdoc />
    public override LayerTraits Traits => LayerTraits.ChangesShape | LayerTraits.Bounded;

    /// <inheritdoc />
    internal override IReadOnlyList<string> OnnxOperators => ["Flatten", "Reshape"];

    /// <summary>Flatten at axis 1, or a Reshape to [N, D] (a flatten) or to the same maps or [N, D, 1, 1] (nothing).</summary>
    internal override void ImportOnnx(OnnxGraphImporter import, NodeProto node)
    {
        if (node.OpType == "Reshape") ImportReshape(import, node);
        else ImportFlatten(import, node);
    }

    private static void ImportFlatten(OnnxGraphImporter import, NodeProto node)
    {
        var a = import.Attributes(node, "axis");
        import.RequireInputs(node, 1, 1);
        import.RequireOutputs(node, 1);
        int rank = import.Flat ? 2 : 4;
        long axis = a.Int("axis", 1);
        if (axis < 0) axis += rank;
        if (axis != 1) throw import.NodeFail($"flattens at axis {a.Int("axis", 1)} of a rank-{rank} tensor; SharpCnn flattens each sample (axis 1)");
        if (import.Flat) import.MoveLayerOutput(node);
        else AddFlatten(import, node);
    }

    private static void AddFlatten(OnnxGraphImporter import, NodeProto node)
    {
        import.AddLayer(FlattenSpec.Instance, [], node);
        import.SetShape(import.SampleSize, 1, 1, flat: true);
    }

    private static void ImportReshape(OnnxGraphImporter import, NodeProto node)
    {
        var a = import.Attributes(node, "allowzero");
        import.RequireInputs(node, 2, 2);
        import.RequireOutputs(node, 1);
        bool allowZero = a.Int("allowzero", 0) != 0;
        var shapeTensor = import.ConstantInput(node, 1, "shape", required: true)!;
        long[] target = import.Integers(shapeTensor, "shape");
        if (shapeTensor.Dims.Count != 1 || target.Length is < 2 or > 4)
            throw import.NodeFail($"reshapes to [{string.Join(", ", target)}]; SharpCnn can only flatten to [N, D] (or keep the maps)");
        long channels = import.Channels, height = import.Height, width = import.Width, size = import.SampleSize;
        bool flat = import.Flat;
        long[] inDims = flat ? [-1, channels] : [-1, channels, height, width];
        int inferred = -1;
        var dims = new long[target.Length];
        bool batchKept = false;
        for (int i = 0; i < target.Length; i++)
        {
            long v = target[i];
            if (v == 0 && !allowZero)
            {
                if (i >= inDims.Length) throw import.NodeFail($"copies dimension {i} (0 in the shape) that its rank-{inDims.Length} input does not have");
                v = inDims[i];
                if (i == 0) batchKept = true;
            }
            else if (v == -1)
            {
                if (inferred >= 0) throw import.NodeFail("has more than one -1 in its shape");
                inferred = i;
            }
            else if (v < 1)
            {
                throw import.NodeFail($"has the dimension {v} in its shape [{string.Join(", ", target)}]");
            }
            dims[i] = v;
        }
        if (!batchKept)
        {
            if (inferred == 0) batchKept = true;
            else if (import.FixedBatch is { } fb && dims[0] == fb) batchKept = true;
            if (!batchKept)
                throw import.NodeFail($"reshapes to [{string.Join(", ", target)}], which does not keep the batch dimension first (write -1 or 0 there, or use Flatten)");
        }
        long known = 1;
        for (int i = 1; i < dims.Length; i++)
        {
            if (i == inferred) continue;
            if (dims[i] > OnnxGraphImporter.MaxSampleValues || (known *= dims[i]) > OnnxGraphImporter.MaxSampleValues)
                throw import.NodeFail($"reshapes {size} values per sample to [{string.Join(", ", target)}]");
        }
        if (inferred > 0)
        {
            if (size % known != 0) throw import.NodeFail($"reshapes {size} values per sample to [{string.Join(", ", target)}], which does not divide");
            dims[inferred] = size / known;
        }
        else if (known != size)
        {
            throw import.NodeFail($"reshapes {size} values per sample to [{string.Join(", ", target)}]");
        }
        if (dims.Length == 2)
        {
            if (flat) import.MoveLayerOutput(node);
            else AddFlatten(import, node);
        }
        else if (dims.Length == 4 && ((!flat && dims[1] == channels && dims[2] == height && dims[3] == width) || (flat && dims[2] == 1 && dims[3] == 1)))
        {
            import.MoveLayerOutput(node);
            import.SetShape(channels, height, width, flat: false);
        }
        else
        {
            throw import.NodeFail($"reshapes [{string.Join(", ", inDims.Skip(1))}] per sample to [{string.Join(", ", dims.Skip(1))}]; SharpCnn can only flatten maps to vectors");
        }
    }
}
