using System.Globalization;
using SharpCnn.Formats.Onnx.Proto;
using SharpCnn.Layers;
using SharpCnn.Tensors;
using DataType = SharpCnn.Formats.Onnx.Proto.TensorProto.Types.DataType;

namespace SharpCnn.Formats.Onnx;

/// <summary>
/// Walks an ONNX graph node by node and translates it into SharpCnn layer tokens and
/// weights (a <see cref="Plan"/>), tracking the activation's per-sample shape in 64-bit
/// arithmetic against fixed limits. See <see cref="OnnxImport"/> for what is accepted.
///
/// The walk keeps three kinds of names: constants (initializers and Constant outputs),
/// the one live activation (the chain's current end), and earlier activations (reading
/// one again would be a branch). A node may read only names defined before it, which
/// rejects out-of-order graphs, cycles and missing initializers alike.
/// </summary>
internal sealed class OnnxGraphImporter
{
    /// <summary>Most values one sample's activation may hold.</summary>
    public const long MaxSampleValues = 1L << 24;

    /// <summary>Most values one layer's weights may hold after expansion (grouped convolutions).</summary>
    public const long MaxLayerWeights = 1L << 26;

    private const long MaxSize = 1_000_000;   // largest size a spec token takes
    private const long MaxPad = 9_999;        // largest padding a spec token takes
    private const int MaxNodes = 100_000;

    /// <summary>
    /// Parameter values the network of any file may have beyond those its tensors carry (a
    /// larger file may add as many as it carries): the zeros and repeats the importer fills in,
    /// for biases left out or given as one value and between the groups of a grouped convolution.
    /// </summary>
    public const long FillAllowance = 1 << 16;

    /// <summary>The operators <see cref="Translate"/> reads.</summary>
    public static readonly string[] Operators =
        ["Conv", "MaxPool", "AveragePool", "Gemm", "MatMul", "Add", "Relu", "Sigmoid", "Tanh", "Flatten", "Reshape", "Softmax", "Identity", "Dropout", "BatchNormalization", "Constant", "Pad", "Max"];

    /// <summary>One layer of the translation: its spec token, its parameter values in the layer's order, the tensor it writes.</summary>
    public sealed class LayerPlan(string token, double[][] parameters, string output, LayerKind kind, string node = "")
    {
        public string Token { get; } = token;
        public string Node { get; } = node;
        public double[][] Parameters { get; } = parameters;
        public string Output { get; set; } = output;
        public LayerKind Kind { get; } = kind;
    }

    /// <summary>Which layers can take a following Add as their bias.</summary>
    public enum LayerKind { Other, Dense, Conv }

    /// <summary>The translated graph; ParameterBudget is the most parameter values its network may have (see <see cref="FillAllowance"/>), BudgetHolder says what backs it.</summary>
    public sealed record Plan(Shape Input, IReadOnlyList<LayerPlan> Layers, long OutputSize, bool EndsWithSoftmax,
        string InputName, string OutputName, string Producer, long Opset, IReadOnlyList<string> Notes,
        long ParameterBudget, string BudgetHolder);

    private readonly string path;
    private readonly ModelProto model;
    private readonly Dictionary<string, TensorProto> constants = [];
    private readonly HashSet<string> defined = [];
    private readonly HashSet<string> pastActivations = [];
    private readonly Dictionary<string, string> unusableOutputs = [];
    private readonly List<LayerPlan> layers = [];
    private readonly List<string> notes = [];
    private long opset;
    private long? fixedBatch;
    private Shape inputShape;

    // The chain's current end: tensor name, per-sample shape, and whether it is [N, D] (flat) or [N, C, H, W].
    private string current = "";
    private long channels, height, width;
    private bool flat;
    private bool softmaxSeen;
    private (long Top, long Bottom, long Left, long Right)? pendingPad;
    private string pendingPadNode = "";
    private (WindowFloor Floor, long Height, long Width, string Problem)? pendingFloor;
    private string pendingFloorNode = "";

    // The node being translated, for messages.
    private string label = "";

    public OnnxGraphImporter(string path, ModelProto model)
    {
        this.path = path;
        this.model = model;
    }

    private FileFormatException Fail(string problem) => new(path, -1, problem);

    private FileFormatException NodeFail(string problem) => new(path, -1, $"{label} {problem}");

    private long SampleSize => channels * height * width;

    /// <summary>Checks the model and translates its graph.</summary>
    public Plan Translate()
    {
        CheckModel();
        var graph = model.Graph;
        // The network may hold what the file's tensors carry and as many filled-in values again (at least
        // FillAllowance): a small file that claims a huge layer fails here, before the layer is allocated.
        long carried = CarriedValues(graph), fill = Math.Max(carried, FillAllowance);
        long budget = carried + fill;
        string holder = $"what the file backs ({carried} weight values in its tensors, and up to {fill} filled-in zeros and repeats)";
        using var scope = ParameterBudget.Limit(budget, holder);
        string inputName = ReadInput(graph);
        if (graph.Node.Count > MaxNodes) throw Fail($"the graph has {graph.Node.Count} nodes; this reader takes at most {MaxNodes}");
        for (int i = 0; i < graph.Node.Count; i++)
        {
            var node = graph.Node[i];
            label = string.IsNullOrEmpty(node.Name) ? $"node {i + 1} ({node.OpType})" : $"node {i + 1} '{node.Name}' ({node.OpType})";
            TranslateNode(node);
        }
        label = "";
        string outputName = CheckOutput(graph);
        if (layers.Count == 0) layers.Add(new LayerPlan("identity", [], current, LayerKind.Other));
        string producer = string.IsNullOrWhiteSpace(model.ProducerName) ? "unknown" : $"{model.ProducerName} {model.ProducerVersion}".Trim();
        return new Plan(inputShape, layers, SampleSize, softmaxSeen, inputName, outputName, producer, opset, notes, budget, holder);
    }

    /// <summary>The float and double values the graph's initializers and Constant nodes really carry, whatever their dimensions claim.</summary>
    private static long CarriedValues(GraphProto graph)
    {
        long carried = 0;
        foreach (var t in graph.Initializer) carried += OnnxTensorData.Carried(t);
        foreach (var node in graph.Node)
        {
            if (node.OpType != "Constant") continue;
            foreach (var a in node.Attribute)
                carried += a.Name switch
                {
                    "value" when a.T is not null => OnnxTensorData.Carried(a.T),
                    "value_float" => 1,
                    "value_floats" => a.Floats.Count,
                    _ => 0,
                };
        }
        return carried;
    }

    /// <summary>Takes <paramref name="values"/> parameter values from the budget, before the importer allocates them.</summary>
    private void Claim(long values, string what)
    {
        try
        {
            ParameterBudget.Take(values, what);
        }
        catch (LayerShapeException e)
        {
            throw NodeFail(e.Message);
        }
    }

    private void CheckModel()
    {
        if (!model.HasIrVersion) throw Fail("the model has no ir_version: this is not an ONNX model");
        if (model.IrVersion < 3 || model.IrVersion > 11)
            throw Fail($"the model has ONNX IR version {model.IrVersion}; this reader takes versions 3 to 11");
        var standard = model.OpsetImport.Where(o => o.Domain is "" or "ai.onnx").ToList();
        if (standard.Count != 1)
            throw Fail(standard.Count == 0 ? "the model imports no standard operator set (opset_import for domain \"\")" : "the model imports the standard operator set more than once");
        opset = standard[0].Version;
        if (opset < OnnxImport.MinOpset || opset > OnnxImport.MaxOpset)
            throw Fail($"the model uses operator set {opset}; this reader takes {OnnxImport.MinOpset} to {OnnxImport.MaxOpset}");
        if (model.Graph is null) throw Fail("the model has no graph");
    }

    private string ReadInput(GraphProto graph)
    {
        foreach (var t in graph.Initializer)
        {
            if (string.IsNullOrEmpty(t.Name)) throw Fail("an initializer has no name");
            if (!constants.TryAdd(t.Name, t)) throw Fail($"two initializers are named '{t.Name}'");
            defined.Add(t.Name);
        }
        var inputs = graph.Input.Where(v => !constants.ContainsKey(v.Name)).ToList();
        if (inputs.Count != 1)
            throw Fail(inputs.Count == 0
                ? "the graph has no input besides its initializers"
                : $"the graph has {inputs.Count} inputs ({string.Join(", ", inputs.Select(v => $"'{v.Name}'"))}); a SharpCnn network takes one image tensor");
        var input = inputs[0];
        if (string.IsNullOrEmpty(input.Name)) throw Fail("the graph input has no name");
        string where = $"the graph input '{input.Name}'";
        if (input.Type?.TensorType is not { } tensor) throw Fail($"{where} is not a tensor");
        if (tensor.ElemType is not ((int)DataType.Float or (int)DataType.Double))
            throw Fail($"{where} holds {OnnxTensorData.TypeName(tensor.ElemType)} values; SharpCnn takes float or double inputs");
        if (tensor.Shape is null) throw Fail($"{where} has no shape; SharpCnn needs [N, C, H, W] (or [N, D]) with C, H, W known");
        var dims = tensor.Shape.Dim;
        if (dims.Count is not (2 or 4)) throw Fail($"{where} has {dims.Count} dimensions; SharpCnn takes [N, C, H, W] images or [N, D] vectors");
        if (dims[0].HasDimValue)
        {
            if (dims[0].DimValue < 1 || dims[0].DimValue > MaxSize) throw Fail($"{where} has batch dimension {dims[0].DimValue}");
            fixedBatch = dims[0].DimValue;
        }
        var sizes = new long[dims.Count - 1];
        for (int i = 1; i < dims.Count; i++)
        {
            if (!dims[i].HasDimValue) throw Fail($"{where} leaves dimension {i} unknown ('{dims[i].DimParam}'); SharpCnn needs every dimension but the batch");
            long d = dims[i].DimValue;
            if (d < 1 || d > MaxSize) throw Fail($"{where} has dimension {i} = {d}; each must be in 1..{MaxSize}");
            sizes[i - 1] = d;
        }
        (channels, height, width, flat) = sizes.Length == 1 ? (sizes[0], 1L, 1L, true) : (sizes[0], sizes[1], sizes[2], false);
        if (SampleSize > MaxSampleValues) throw Fail($"{where} has {SampleSize} values per sample; this reader takes at most {MaxSampleValues}");
        inputShape = new Shape((int)channels, (int)height, (int)width);
        current = input.Name;
        defined.Add(input.Name);
        return input.Name;
    }

    private string CheckOutput(GraphProto graph)
    {
        if (pendingPad is not null) throw Fail($"the graph ends with the Pad of {pendingPadNode}; SharpCnn takes zero padding only as part of a following Conv or pooling");
        if (pendingFloor is { } pf) throw Fail($"{pendingFloorNode} {pf.Problem}");
        if (graph.Output.Count != 1)
            throw Fail($"the graph has {graph.Output.Count} outputs; a SharpCnn network has one (the class scores or probabilities)");
        var output = graph.Output[0];
        if (output.Name != current)
        {
            string what = constants.ContainsKey(output.Name) ? "a constant"
                : pastActivations.Contains(output.Name) ? "an intermediate activation"
                : defined.Contains(output.Name) ? "a tensor off the chain" : "not produced by any node";
            throw Fail($"the graph output '{output.Name}' is {what}; the chain of nodes ends at '{current}'");
        }
        if (output.Type?.TensorType?.Shape is { } shape && shape.Dim.Count > 0)
        {
            long declared = 1;
            bool known = true;
            for (int i = 1; i < shape.Dim.Count; i++)
            {
                if (shape.Dim[i].HasDimValue && shape.Dim[i].DimValue >= 0 && shape.Dim[i].DimValue <= MaxSampleValues)
                    declared = Math.Min(declared * shape.Dim[i].DimValue, MaxSampleValues + 1); // both factors ≤ 2^24 + 1: no overflow
                else known = false;
            }
            if (known && declared != SampleSize)
                throw Fail($"the graph output '{output.Name}' is declared with {(declared > MaxSampleValues ? $"more than {MaxSampleValues}" : declared)} values per sample, the nodes compute {SampleSize}");
        }
        return output.Name;
    }

    private void TranslateNode(NodeProto node)
    {
        if (string.IsNullOrEmpty(node.OpType)) throw NodeFail("has no operator type");
        if (!string.IsNullOrEmpty(node.Domain) && node.Domain != "ai.onnx")
            throw NodeFail($"is from the operator domain '{node.Domain}'; SharpCnn imports standard ONNX operators ({string.Join(", ", Operators)})");
        if (node.Output.Count == 0 || string.IsNullOrEmpty(node.Output[0])) throw NodeFail("has no output");
        if (node.Input.Count > 16) throw NodeFail($"has {node.Input.Count} inputs; no supported operator has that many");

        var activations = new List<string>();
        foreach (string input in node.Input)
        {
            if (input.Length == 0) continue; // an optional input left out
            if (unusableOutputs.TryGetValue(input, out string? from))
                throw NodeFail($"reads '{input}', the optional extra output of {from}, which SharpCnn does not compute");
            if (!defined.Contains(input))
                throw NodeFail($"reads '{input}', which is not the graph input, an initializer or the output of an earlier node (the graph is out of order, has a cycle, or lacks that initializer)");
            if (pastActivations.Contains(input))
                throw NodeFail($"reads '{input}', an earlier activation than the chain's end '{current}': the graph branches, and a SharpCnn network is a chain in which each layer reads the output of the one before");
            if (!constants.ContainsKey(input) && !activations.Contains(input)) activations.Add(input);
        }
        foreach (string output in node.Output)
            if (output.Length > 0 && (defined.Contains(output) || unusableOutputs.ContainsKey(output)))
                throw NodeFail($"writes '{output}', which is already defined (every tensor must be written once)");

        if (activations.Count == 0)
        {
            if (node.OpType != "Constant")
                throw NodeFail("computes on constants only; SharpCnn imports constants as initializers or Constant nodes (fold the constants before exporting)");
            RequireOutputs(node, 1);
            constants[node.Output[0]] = ReadConstant(node);
            defined.Add(node.Output[0]);
            return;
        }
        if (softmaxSeen) throw NodeFail($"reads the output of the Softmax; SharpCnn imports Softmax only as the graph's last node");
        if (pendingFloor is { } pf && node.OpType != "Max")
            throw new FileFormatException(path, -1, $"{pendingFloorNode} {pf.Problem}");
        if (pendingPad is not null && node.OpType is not ("Conv" or "MaxPool" or "AveragePool"))
            throw NodeFail($"follows the Pad of {pendingPadNode}; SharpCnn takes zero padding only as part of a following Conv, MaxPool or AveragePool");

        string before = current;
        switch (node.OpType)
        {
            case "Conv": Conv(node); break;
            case "MaxPool": Pool(node, max: true); break;
            case "AveragePool": Pool(node, max: false); break;
            case "Gemm": Gemm(node); break;
            case "MatMul": MatMul(node); break;
            case "Add": Add(node); break;
            case "Relu": Elementwise(node, "relu"); break;
            case "Sigmoid": Elementwise(node, "sigmoid"); break;
            case "Tanh": Elementwise(node, "tanh"); break;
            case "Flatten": Flatten(node); break;
            case "Reshape": Reshape(node); break;
            case "Softmax": Softmax(node); break;
            case "Identity": PassThrough(node, []); break;
            case "Dropout": Dropout(node); break;
            case "BatchNormalization": BatchNormalization(node); break;
            case "Pad": Pad(node); break;
            case "Max": PaddingFloor(node); break;
            default:
                throw NodeFail($"is not an operator SharpCnn can import; supported: {string.Join(", ", Operators)}");
        }
        pastActivations.Add(before);
        current = node.Output[0];
        defined.Add(current);
        if (SampleSize > MaxSampleValues) throw NodeFail($"makes {SampleSize} values per sample; this reader takes at most {MaxSampleValues}");
    }

    // ---- inputs, outputs, attributes ---------------------------------------------------------

    private OnnxNodeAttributes Attributes(NodeProto node, params string[] known) => new(node, known, NodeFail);

    /// <summary>Checks that input 0 is the chain's activation and the node has between min and max inputs.</summary>
    private void RequireInputs(NodeProto node, int min, int max)
    {
        if (node.Input.Count < min || node.Input.Count > max)
            throw NodeFail(min == max ? $"has {node.Input.Count} inputs, expected {min}" : $"has {node.Input.Count} inputs, expected {min} to {max}");
        if (node.Input[0] != current)
            throw NodeFail($"reads the activation '{current}' as input {node.Input.IndexOf(current) + 1}, not as its data input 1");
        for (int i = 1; i < node.Input.Count; i++)
            if (node.Input[i] == current) throw NodeFail($"reads the activation '{current}' as input {i + 1}, where a constant belongs");
    }

    /// <summary>Checks that the node writes exactly <paramref name="count"/> outputs.</summary>
    private void RequireOutputs(NodeProto node, int count)
    {
        int written = node.Output.Count(o => o.Length > 0);
        if (node.Output.Count > count || written != count)
            throw NodeFail($"has {node.Output.Count} outputs, expected {count}");
    }

    /// <summary>Allows optional extra outputs as long as nothing reads them.</summary>
    private void AllowUnusedExtraOutputs(NodeProto node, int max)
    {
        if (node.Output.Count > max) throw NodeFail($"has {node.Output.Count} outputs, expected at most {max}");
        for (int i = 1; i < node.Output.Count; i++)
            if (node.Output[i].Length > 0) unusableOutputs[node.Output[i]] = label;
    }

    /// <summary>The constant tensor named by input <paramref name="index"/>, or null when the optional input is absent.</summary>
    private TensorProto? ConstantInput(NodeProto node, int index, string role, bool required)
    {
        if (index >= node.Input.Count || node.Input[index].Length == 0)
        {
            if (required) throw NodeFail($"lacks its {role} (input {index + 1})");
            return null;
        }
        string name = node.Input[index];
        if (!constants.TryGetValue(name, out var tensor))
            throw NodeFail($"takes its {role} from '{name}', which is not a constant (initializer or Constant node)");
        return tensor;
    }

    private double[] Reals(TensorProto tensor, string role)
    {
        var values = OnnxTensorData.Reals(tensor, out string? error);
        if (error is not null) throw NodeFail($"{role} '{tensor.Name}' {error}");
        return values;
    }

    private long[] Integers(TensorProto tensor, string role)
    {
        var values = OnnxTensorData.Integers(tensor, out string? error);
        if (error is not null) throw NodeFail($"{role} '{tensor.Name}' {error}");
        return values;
    }

    private static string Dims(TensorProto t) => $"[{string.Join(", ", t.Dims)}]";

    private void RequireMaps()
    {
        if (flat) throw NodeFail($"needs maps [N, C, H, W], but its input is a flat [N, {channels}] tensor");
    }

    private void AddLayer(string token, double[][] parameters, NodeProto node, LayerKind kind = LayerKind.Other) =>
        layers.Add(new LayerPlan(token, parameters, node.Output[0], kind, label));

    /// <summary>A node that changes nothing: the last layer's output name moves on with it (so a following Add still finds its layer).</summary>
    private void PassThrough(NodeProto node, string[] attributes)
    {
        Attributes(node, attributes);
        RequireInputs(node, 1, 1);
        RequireOutputs(node, 1);
        MoveLayerOutput(node);
    }

    private void MoveLayerOutput(NodeProto node)
    {
        if (layers.Count > 0 && layers[^1].Output == current) layers[^1].Output = node.Output[0];
    }

    // ---- operators --------------------------------------------------------------------------

    private void Conv(NodeProto node)
    {
        var a = Attributes(node, "auto_pad", "dilations", "group", "kernel_shape", "pads", "strides");
        RequireInputs(node, 2, 3);
        RequireOutputs(node, 1);
        RequireMaps();
        var w = ConstantInput(node, 1, "weight", required: true)!;
        if (w.Dims.Count != 4) throw NodeFail($"weight '{w.Name}' has dimensions {Dims(w)}; a 2-D convolution's weight is [M, C/group, kh, kw]");
        long m = w.Dims[0], cg = w.Dims[1], kh = w.Dims[2], kw = w.Dims[3];
        if (m < 1 || cg < 1 || kh < 1 || kw < 1 || m > MaxSize || kh > MaxSize || kw > MaxSize)
            throw NodeFail($"weight '{w.Name}' has dimensions {Dims(w)}; each must be in 1..{MaxSize}");
        OnnxTensorData.Count(w, out string? countError); // bounds m·(C/group)·kh·kw before any product below
        if (countError is not null) throw NodeFail($"weight '{w.Name}' {countError}");
        long group = a.Int("group", 1);
        if (group < 1 || channels % group != 0 || m % group != 0 || channels / group != cg)
            throw NodeFail($"has group {group} with {channels} input channels and a weight {Dims(w)}; group must divide both channel counts and C/group must be {cg}");
        if (a.Ints("kernel_shape", 2) is { } ks && (ks[0] != kh || ks[1] != kw))
            throw NodeFail($"has kernel_shape [{ks[0]}, {ks[1]}] but a {kh}x{kw} weight");
        CheckDilations(a);
        long stride = Stride(a);
        var (top, left, bottom, right) = ResolvePads(a, kh, kw, stride);
        if (pendingPad is { } pp)
        {
            (top, bottom, left, right) = (top + pp.Top, bottom + pp.Bottom, left + pp.Left, right + pp.Right);
            notes.Add($"the zero Pad of {pendingPadNode} became part of the padding of {label}");
            pendingPad = null;
        }
        if (top > MaxPad || bottom > MaxPad || left > MaxPad || right > MaxPad)
            throw NodeFail($"pads [{top}, {left}, {bottom}, {right}]; SharpCnn takes at most {MaxPad} per side");
        long ph = height + top + bottom, pw = width + left + right;
        if (kh > ph || kw > pw) throw NodeFail($"has a {kh}x{kw} kernel larger than its padded {ph}x{pw} input");
        long outH = (ph - kh) / stride + 1, outW = (pw - kw) / stride + 1;
        var wv = Reals(w, "weight");
        if (TrySubsample(node, wv, m, cg, kh, kw, stride, (top, left, bottom, right))) return;
        if (m * channels * kh * kw > MaxLayerWeights)
            throw NodeFail($"would need {m * channels * kh * kw} weights ({m}x{channels}x{kh}x{kw}); this reader takes at most {MaxLayerWeights} per layer");
        if (group > 1 && m * (channels + 1) > 1 << 18)
            throw NodeFail($"has group {group} over {channels} -> {m} channels; SharpCnn writes groups as a connection table, and one this large ({m}x{channels}) is beyond what a model file holds");
        Claim(m * channels * kh * kw, $"weight[{m}x{channels}x{kh}x{kw}]{(group > 1 ? $" (group {group} spread over all {channels} input maps)" : "")}");
        double[] weights;
        if (group == 1)
        {
            weights = wv;
        }
        else
        {
            // Grouped convolution → full weight with zeros between groups, and the matching connection table.
            weights = new double[m * channels * kh * kw];
            long area = kh * kw, mg = m / group;
            for (long o = 0; o < m; o++)
            {
                long g = o / mg;
                for (long c = 0; c < cg; c++)
                    Array.Copy(wv, (o * cg + c) * area, weights, (o * channels + g * cg + c) * area, area);
            }
        }
        double[] bias = Bias(node, 2, m);
        string token = $"conv{kh}x{kw}x{m}:s{stride}:p{top}-{bottom}-{left}-{right}";
        if (group > 1)
        {
            var table = new bool[m, channels];
            long mg = m / group;
            for (long o = 0; o < m; o++)
                for (long c = 0; c < channels; c++)
                    table[o, c] = c / cg == o / mg;
            token += ":table=" + ConnectionTables.Format(table);
        }
        AddLayer(token, [weights, bias], node, LayerKind.Conv);
        (channels, height, width) = (m, outH, outW);
    }

    /// <summary>
    /// A depthwise Conv (one input channel per output channel) with a k x k kernel moved by k
    /// whose kernel is one value per channel is SharpCnn's LeNet subsampling β·(block sum) + b:
    /// read it back as that layer (what <see cref="OnnxExport"/> writes for it).
    /// </summary>
    private bool TrySubsample(NodeProto node, double[] kernel, long m, long cg, long kh, long kw, long stride,
        (long Top, long Left, long Bottom, long Right) pads)
    {
        if (cg != 1 || m != channels || kh != kw || stride != kh || pads.Top != 0 || pads.Left != 0) return false;
        long area = kh * kw;
        for (long c = 0; c < m; c++)
            for (long i = 1; i < area; i++)
                if (kernel[c * area + i] != kernel[c * area]) return false;
        var rows = Axis(height, kh, stride, 0, pads.Bottom, ceil: false, max: false, includePad: false, "rows");
        var cols = Axis(width, kw, stride, 0, pads.Right, ceil: false, max: false, includePad: false, "columns");
        if (rows.Problem is not null || cols.Problem is not null) return false;
        PoolEdge edge;
        if (rows.Drop && cols.Drop) edge = PoolEdge.Drop;
        else if (rows.Pad && cols.Pad) edge = PoolEdge.Pad;
        else return false;
        Claim(m, $"beta[{m}]");
        var beta = new double[m];
        for (long c = 0; c < m; c++) beta[c] = kernel[c * area];
        AddLayer($"subsample{kh}{(edge == PoolEdge.Pad ? ":pad" : "")}", [beta, Bias(node, 2, m)], node);
        (height, width) = (rows.Output, cols.Output);
        return true;
    }

    /// <summary>A bias of <paramref name="count"/> values from input <paramref name="index"/> (zeros when absent); a single value is broadcast.</summary>
    private double[] Bias(NodeProto node, int index, long count)
    {
        var b = ConstantInput(node, index, "bias", required: false);
        Claim(count, $"bias[{count}]");
        if (b is null) return new double[count];
        var values = Reals(b, "bias");
        if (values.Length == count && (b.Dims.Count == 1 || (b.Dims.Count == 2 && b.Dims[0] == 1))) return values;
        if (values.Length == 1) return Enumerable.Repeat(values[0], (int)count).ToArray();
        throw NodeFail($"bias '{b.Name}' has dimensions {Dims(b)}; expected [{count}]");
    }

    private void CheckDilations(OnnxNodeAttributes a)
    {
        if (a.Ints("dilations", 2) is { } d && (d[0] != 1 || d[1] != 1))
            throw NodeFail($"has dilations [{d[0]}, {d[1]}]; SharpCnn has no dilated windows");
    }

    private long Stride(OnnxNodeAttributes a)
    {
        var s = a.Ints("strides", 2) ?? [1, 1];
        if (s[0] != s[1]) throw NodeFail($"has strides [{s[0]}, {s[1]}]; SharpCnn moves its windows by one stride in both directions");
        if (s[0] < 1 || s[0] > MaxSize) throw NodeFail($"has stride {s[0]}");
        return s[0];
    }

    /// <summary>The padding (top, left, bottom, right) from pads or auto_pad.</summary>
    private (long Top, long Left, long Bottom, long Right) ResolvePads(OnnxNodeAttributes a, long kh, long kw, long stride)
    {
        string auto = a.String("auto_pad", "NOTSET");
        var pads = a.Ints("pads", 4);
        if (pads is not null && auto != "NOTSET" && pads.Any(p => p != 0))
            throw NodeFail($"gives both pads and auto_pad {auto}");
        switch (auto)
        {
            case "NOTSET" or "":
                pads ??= [0, 0, 0, 0];
                if (pads.Any(p => p < 0 || p > MaxPad)) throw NodeFail($"has pads [{string.Join(", ", pads)}]; each must be in 0..{MaxPad}");
                return (pads[0], pads[1], pads[2], pads[3]);
            case "VALID":
                return (0, 0, 0, 0);
            case "SAME_UPPER" or "SAME_LOWER":
                // On the node's input: the activation plus the zero Pad before it, if any.
                var (pt, pb, pl, pr) = pendingPad ?? (0, 0, 0, 0);
                var (t, b) = Same(height + pt + pb, kh, stride, auto == "SAME_UPPER");
                var (l, r) = Same(width + pl + pr, kw, stride, auto == "SAME_UPPER");
                return (t, l, b, r);
            default:
                throw NodeFail($"has auto_pad '{auto}'; expected NOTSET, VALID, SAME_UPPER or SAME_LOWER");
        }

        static (long Begin, long End) Same(long size, long k, long s, bool upper)
        {
            long output = (size + s - 1) / s;
            long total = Math.Max((output - 1) * s + k - size, 0);
            long small = total / 2;
            return upper ? (small, total - small) : (total - small, small);
        }
    }

    private void Pool(NodeProto node, bool max)
    {
        var a = max
            ? Attributes(node, "auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides")
            : Attributes(node, "auto_pad", "ceil_mode", "count_include_pad", "dilations", "kernel_shape", "pads", "strides");
        RequireInputs(node, 1, 1);
        if (max) AllowUnusedExtraOutputs(node, 2);
        else RequireOutputs(node, 1);
        RequireMaps();
        var kernel = a.Ints("kernel_shape", 2) ?? throw NodeFail("has no kernel_shape");
        long kh = kernel[0], kw = kernel[1];
        if (kh < 1 || kw < 1 || kh > MaxSize || kw > MaxSize) throw NodeFail($"has kernel_shape [{kh}, {kw}]");
        CheckDilations(a);
        long stride = Stride(a);
        bool ceil = a.Int("ceil_mode", 0) switch { 0 => false, 1 => true, var v => throw NodeFail($"has ceil_mode {v}; expected 0 or 1") };
        bool includePad = !max && a.Int("count_include_pad", 0) switch { 0 => false, 1 => true, var v => throw NodeFail($"has count_include_pad {v}; expected 0 or 1") };
        var (top, left, bottom, right) = ResolvePads(a, kh, kw, stride);
        var (zeroTop, zeroBottom, zeroLeft, zeroRight) = pendingPad ?? (0, 0, 0, 0);
        if (top + zeroTop != 0 || left + zeroLeft != 0)
            throw NodeFail($"pads the top or left ({top + zeroTop} rows, {left + zeroLeft} columns); SharpCnn pooling pads only the bottom and right");

        var rows = Axis(height, kh, stride, bottom, zeroBottom, ceil, max, includePad, "rows");
        var cols = Axis(width, kw, stride, right, zeroRight, ceil, max, includePad, "columns");
        if ((rows.Problem ?? cols.Problem) is { } problem) throw NodeFail(problem);
        PoolEdge edge;
        if (rows.Drop && cols.Drop) edge = PoolEdge.Drop;
        else if (rows.Pad && cols.Pad) edge = PoolEdge.Pad;
        else throw NodeFail("needs SharpCnn's 'drop' edge mode along one axis and its 'pad' mode along the other; a pooling layer has one edge mode");
        if (pendingPad is not null)
        {
            notes.Add($"the zero Pad of {pendingPadNode} became the '{(edge == PoolEdge.Pad ? "pad" : "drop")}' edge mode of {label}");
            pendingPad = null;
        }
        string token = $"{(max ? "maxpool" : "meanpool")}{kh}x{kw}:s{stride}{(edge == PoolEdge.Pad ? ":pad" : "")}";
        if ((rows.NeedsFloor ?? cols.NeedsFloor) is { } needsFloor)
        {
            // Windows reach into MaxPool's own (ignored) padding: only a following Max(…, floor) makes them SharpCnn's.
            // The rule, not a table: one value per window would be an allocation the file's sizes merely claim.
            pendingFloor = (new WindowFloor(stride, kh, kw, height, width, zeroBottom, zeroRight), rows.Output, cols.Output, needsFloor);
            pendingFloorNode = label;
        }
        AddLayer(token, [], node);
        (height, width) = (rows.Output, cols.Output);
    }

    /// <summary>
    /// One axis of a pooling node: its output count as ONNX computes it, and whether SharpCnn's
    /// 'drop' or 'pad' edge mode gives the same windows with the same values. SharpCnn's
    /// windows see zeros past the input ('pad') and always divide by the whole window; so
    /// every ONNX window must end within the input plus padding that acts as zeros: the
    /// zero Pad before the node, and for AveragePool with count_include_pad its own pads.
    /// (MaxPool's own pads are ignored by the max; AveragePool without count_include_pad
    /// divides by the in-bounds count.)
    /// </summary>
    private static (long Output, bool Drop, bool Pad, string? Problem, string? NeedsFloor) Axis(long size, long k, long s, long pad, long zeroPad, bool ceil, bool max, bool includePad, string axis)
    {
        long padded = size + zeroPad;     // what the pooling node receives
        long total = padded + pad;
        if (total < k) return (0, false, false, $"has a window of {k} {axis} over {padded} {axis}{(pad > 0 ? $" plus {pad} padding" : "")}", null);
        long output = ceil ? (total - k + s - 1) / s + 1 : (total - k) / s + 1;
        if (ceil && (output - 1) * s >= padded) output--; // the last window must start inside the input or its begin padding
        long end = (output - 1) * s + k;
        long zeros = padded + (includePad ? pad : 0);
        if (end > zeros)
        {
            string why = max
                ? "ONNX MaxPool ignores that padding, where SharpCnn pools padded zeros"
                : includePad ? "ceil_mode clips that window, so ONNX divides it by fewer than the window's size" : "ONNX AveragePool (count_include_pad = 0) divides it by its in-bounds count, where SharpCnn divides by the window's size";
            string problem = $"has a last window of {axis} {(output - 1) * s}..{end - 1} that reaches past the input's {zeros} {axis}: {why}; the results would differ";
            // MaxPool followed by a Max that raises those windows to 0 is SharpCnn's 'pad' mode (what OnnxExport writes).
            if (max && output == PoolWindow.OutputSize((int)size, (int)k, (int)s, PoolEdge.Pad))
                return (output, false, true, null, problem + " (unless a Max with 0 on those windows follows)");
            return (output, false, false, problem, null);
        }
        bool drop = size >= k && output == (size - k) / s + 1;
        bool padMode = output == PoolWindow.OutputSize((int)size, (int)k, (int)s, PoolEdge.Pad);
        if (!drop && !padMode)
            return (output, false, false, $"gives {output} windows along its {axis}; SharpCnn's edge modes give {(size >= k ? (size - k) / s + 1 : 0)} ('drop') or {PoolWindow.OutputSize((int)size, (int)k, (int)s, PoolEdge.Pad)} ('pad')", null);
        return (output, drop, padMode, null, null);
    }

    private void Gemm(NodeProto node)
    {
        var a = Attributes(node, "alpha", "beta", "transA", "transB");
        RequireInputs(node, 2, 3);
        RequireOutputs(node, 1);
        if (!flat) throw NodeFail($"multiplies a {channels}x{height}x{width} map tensor; Gemm takes [N, D] (add a Flatten before it)");
        if (a.Int("transA", 0) != 0) throw NodeFail("has transA = 1: it would multiply across the batch");
        long transB = a.Int("transB", 0);
        if (transB is not (0 or 1)) throw NodeFail($"has transB {transB}; expected 0 or 1");
        double alpha = a.Float("alpha", 1f), beta = a.Float("beta", 1f);
        if (!double.IsFinite(alpha) || !double.IsFinite(beta)) throw NodeFail($"has alpha {alpha}, beta {beta}; both must be finite");
        var b = ConstantInput(node, 1, "weight", required: true)!;
        if (b.Dims.Count != 2) throw NodeFail($"weight '{b.Name}' has dimensions {Dims(b)}; Gemm's B is a matrix");
        long d = transB == 1 ? b.Dims[1] : b.Dims[0], m = transB == 1 ? b.Dims[0] : b.Dims[1];
        if (d != channels) throw NodeFail($"weight '{b.Name}' {Dims(b)}{(transB == 1 ? " (transposed)" : "")} takes {d} features, its input has {channels}");
        if (m < 1 || m > MaxSize) throw NodeFail($"has {m} outputs; expected 1..{MaxSize}");
        var bv = Reals(b, "weight");
        Claim(m * d, $"weight[{m}x{d}]");
        var weights = new double[m * d];
        for (long o = 0; o < m; o++)
            for (long i = 0; i < d; i++)
                weights[o * d + i] = alpha * (transB == 1 ? bv[o * d + i] : bv[i * m + o]);
        var bias = Bias(node, 2, m);
        for (int i = 0; i < bias.Length; i++) bias[i] *= beta;
        AddLayer($"dense{m}", [weights, bias], node, LayerKind.Dense);
        (channels, height, width) = (m, 1, 1);
    }

    private void MatMul(NodeProto node)
    {
        Attributes(node);
        RequireInputs(node, 2, 2);
        RequireOutputs(node, 1);
        if (!flat) throw NodeFail($"multiplies a {channels}x{height}x{width} map tensor; SharpCnn imports MatMul on [N, D] (add a Flatten before it)");
        var b = ConstantInput(node, 1, "weight", required: true)!;
        if (b.Dims.Count != 2 || b.Dims[0] != channels)
            throw NodeFail($"weight '{b.Name}' has dimensions {Dims(b)}; expected [{channels}, M] for its [N, {channels}] input");
        long d = b.Dims[0], m = b.Dims[1];
        if (m < 1 || m > MaxSize) throw NodeFail($"has {m} outputs; expected 1..{MaxSize}");
        var bv = Reals(b, "weight");
        Claim(m * d, $"weight[{m}x{d}]");
        var weights = new double[m * d];
        for (long o = 0; o < m; o++)
            for (long i = 0; i < d; i++)
                weights[o * d + i] = bv[i * m + o];
        Claim(m, $"bias[{m}]");
        AddLayer($"dense{m}", [weights, new double[m]], node, LayerKind.Dense);
        (channels, height, width) = (m, 1, 1);
    }

    /// <summary>Add of a constant right after a Gemm/MatMul (bias [M]) or a Conv (bias [M, 1, 1]): folded into that layer's bias.</summary>
    private void Add(NodeProto node)
    {
        Attributes(node);
        if (node.Input.Count != 2) throw NodeFail($"has {node.Input.Count} inputs, expected 2");
        RequireOutputs(node, 1);
        int data = node.Input[0] == current ? 0 : 1;
        if (node.Input[1 - data] == current) throw NodeFail("adds the activation to itself");
        var c = ConstantInput(node, 1 - data, "addend", required: true)!;
        if (layers.Count == 0 || layers[^1].Output != current || layers[^1].Kind == LayerKind.Other)
            throw NodeFail("adds a constant that is not the bias of a Gemm, MatMul or Conv right before it; SharpCnn has no separate addition layer");
        var layer = layers[^1];
        long m = channels;
        var dims = c.Dims;
        bool fits = layer.Kind == LayerKind.Dense
            ? dims.Count == 0 || (dims.Count == 1 && (dims[0] == 1 || dims[0] == m)) || (dims.Count == 2 && dims[0] == 1 && (dims[1] == 1 || dims[1] == m))
            : dims.Count == 0 || (dims.Count == 1 && dims[0] == 1)
              || (dims.Count == 3 && (dims[0] == m || dims[0] == 1) && dims[1] == 1 && dims[2] == 1)
              || (dims.Count == 4 && dims[0] == 1 && (dims[1] == m || dims[1] == 1) && dims[2] == 1 && dims[3] == 1);
        if (!fits) throw NodeFail($"adds '{c.Name}' {Dims(c)}, which is not a per-{(layer.Kind == LayerKind.Dense ? "feature" : "channel")} bias for the {m} outputs before it");
        var values = Reals(c, "addend");
        var bias = layer.Parameters[1];
        for (int i = 0; i < bias.Length; i++) bias[i] += values.Length == 1 ? values[0] : values[i];
        notes.Add($"{label} became the bias of layer {layers.Count} ({layer.Token})");
        layer.Output = node.Output[0];
    }

    /// <summary>
    /// Max(activation, floor) right after a 'pad'-mode MaxPool: the floor must be 0 on every window
    /// reaching into MaxPool's ignored padding and -inf on the windows inside the input (what
    /// <see cref="OnnxExport"/> writes); then the pair is SharpCnn's max pooling over zero padding.
    /// </summary>
    private void PaddingFloor(NodeProto node)
    {
        Attributes(node);
        if (pendingFloor is not { } pf) throw NodeFail("is imported only right after a MaxPool whose windows reach into its padding (as the floor that makes the padding count as zeros)");
        if (node.Input.Count != 2) throw NodeFail($"has {node.Input.Count} inputs, expected 2");
        RequireOutputs(node, 1);
        int data = node.Input[0] == current ? 0 : 1;
        if (node.Input[1 - data] == current) throw NodeFail("takes the maximum of the activation with itself");
        var c = ConstantInput(node, 1 - data, "floor", required: true)!;
        bool shapeFits = (c.Dims.Count == 4 && c.Dims[0] == 1 && c.Dims[1] == 1 && c.Dims[2] == pf.Height && c.Dims[3] == pf.Width)
                         || (c.Dims.Count == 2 && c.Dims[0] == pf.Height && c.Dims[1] == pf.Width);
        if (!shapeFits) throw NodeFail($"floor '{c.Name}' has dimensions {Dims(c)}; expected [1, 1, {pf.Height}, {pf.Width}] after {pendingFloorNode}");
        var values = OnnxTensorData.Reals(c, out string? error, allowNegativeInfinity: true);
        if (error is not null) throw NodeFail($"floor '{c.Name}' {error}");
        for (int i = 0; i < values.Length; i++)
        {
            float expected = pf.Floor.At(i / pf.Width, i % pf.Width);
            bool ok = float.IsNaN(expected) ? values[i] == 0 || double.IsNegativeInfinity(values[i]) : values[i] == expected;
            if (!ok)
                throw NodeFail($"floor '{c.Name}' has {values[i]} at window {i / pf.Width},{i % pf.Width}; after {pendingFloorNode} it must be {(expected == 0 ? "0 (the window reaches into the padding)" : "-inf (the window lies inside the input)")}");
        }
        pendingFloor = null;
        notes.Add($"{label} and {pendingFloorNode} are SharpCnn's max pooling over zero padding");
        MoveLayerOutput(node);
    }

    /// <summary>
    /// What the floor after a MaxPool must hold at output window (u, v): 0 where the window reaches
    /// past the input and its zero Pad into MaxPool's own padding (it must be raised to 0), -inf where
    /// it lies inside the input (it must stay as it is), NaN where it reaches only into the zero Pad
    /// (it holds a padded zero already: either will do).
    /// </summary>
    private readonly record struct WindowFloor(long Stride, long KernelHeight, long KernelWidth, long Height, long Width, long ZeroBottom, long ZeroRight)
    {
        public float At(long u, long v)
        {
            long endRow = u * Stride + KernelHeight, endCol = v * Stride + KernelWidth;
            return endRow > Height + ZeroBottom || endCol > Width + ZeroRight ? 0f
                : endRow <= Height && endCol <= Width ? float.NegativeInfinity
                : float.NaN;
        }
    }

    private void Elementwise(NodeProto node, string token)
    {
        Attributes(node);
        RequireInputs(node, 1, 1);
        RequireOutputs(node, 1);
        AddLayer(token, [], node);
    }

    private void Flatten(NodeProto node)
    {
        var a = Attributes(node, "axis");
        RequireInputs(node, 1, 1);
        RequireOutputs(node, 1);
        int rank = flat ? 2 : 4;
        long axis = a.Int("axis", 1);
        if (axis < 0) axis += rank;
        if (axis != 1) throw NodeFail($"flattens at axis {a.Int("axis", 1)} of a rank-{rank} tensor; SharpCnn flattens each sample (axis 1)");
        if (flat) MoveLayerOutput(node);
        else FlattenLayer(node);
    }

    private void FlattenLayer(NodeProto node)
    {
        AddLayer("flatten", [], node);
        (channels, height, width, flat) = (SampleSize, 1, 1, true);
    }

    private void Reshape(NodeProto node)
    {
        var a = Attributes(node, "allowzero");
        RequireInputs(node, 2, 2);
        RequireOutputs(node, 1);
        bool allowZero = a.Int("allowzero", 0) != 0;
        var shapeTensor = ConstantInput(node, 1, "shape", required: true)!;
        long[] target = Integers(shapeTensor, "shape");
        if (shapeTensor.Dims.Count != 1 || target.Length is < 2 or > 4)
            throw NodeFail($"reshapes to [{string.Join(", ", target)}]; SharpCnn can only flatten to [N, D] (or keep the maps)");
        long[] inDims = flat ? [-1, channels] : [-1, channels, height, width];
        int inferred = -1;
        var dims = new long[target.Length];
        bool batchKept = false;
        for (int i = 0; i < target.Length; i++)
        {
            long v = target[i];
            if (v == 0 && !allowZero)
            {
                if (i >= inDims.Length) throw NodeFail($"copies dimension {i} (0 in the shape) that its rank-{inDims.Length} input does not have");
                v = inDims[i];
                if (i == 0) batchKept = true;
            }
            else if (v == -1)
            {
                if (inferred >= 0) throw NodeFail("has more than one -1 in its shape");
                inferred = i;
            }
            else if (v < 1)
            {
                throw NodeFail($"has the dimension {v} in its shape [{string.Join(", ", target)}]");
            }
            dims[i] = v;
        }
        if (!batchKept)
        {
            if (inferred == 0) batchKept = true;
            else if (fixedBatch is { } fb && dims[0] == fb) batchKept = true;
            if (!batchKept)
                throw NodeFail($"reshapes to [{string.Join(", ", target)}], which does not keep the batch dimension first (write -1 or 0 there, or use Flatten)");
        }
        long known = 1;
        for (int i = 1; i < dims.Length; i++)
        {
            if (i == inferred) continue;
            if (dims[i] > MaxSampleValues || (known *= dims[i]) > MaxSampleValues)
                throw NodeFail($"reshapes {SampleSize} values per sample to [{string.Join(", ", target)}]");
        }
        if (inferred > 0)
        {
            if (SampleSize % known != 0) throw NodeFail($"reshapes {SampleSize} values per sample to [{string.Join(", ", target)}], which does not divide");
            dims[inferred] = SampleSize / known;
        }
        else if (known != SampleSize)
        {
            throw NodeFail($"reshapes {SampleSize} values per sample to [{string.Join(", ", target)}]");
        }
        if (dims.Length == 2)
        {
            if (flat) MoveLayerOutput(node);
            else FlattenLayer(node);
        }
        else if (dims.Length == 4 && ((!flat && dims[1] == channels && dims[2] == height && dims[3] == width) || (flat && dims[2] == 1 && dims[3] == 1)))
        {
            MoveLayerOutput(node);
            flat = false;
        }
        else
        {
            throw NodeFail($"reshapes [{string.Join(", ", inDims.Skip(1))}] per sample to [{string.Join(", ", dims.Skip(1))}]; SharpCnn can only flatten maps to vectors");
        }
    }

    private void Softmax(NodeProto node)
    {
        var a = Attributes(node, "axis");
        RequireInputs(node, 1, 1);
        RequireOutputs(node, 1);
        long axis = a.Int("axis", opset >= 13 ? -1 : 1);
        if (!flat) throw NodeFail($"applies to a {channels}x{height}x{width} map tensor; SharpCnn imports Softmax over [N, D] class scores");
        if (axis is not (1 or -1)) throw NodeFail($"has axis {axis}; SharpCnn's softmax runs over each sample's scores (axis 1)");
        softmaxSeen = true;
        MoveLayerOutput(node);
        notes.Add($"{label} is the model's output probabilities: SharpCnn keeps it in the loss, so the network's outputs are the scores before it");
    }

    /// <summary>
    /// Dropout at inference (the identity) → SharpCnn's <c>dropout{p}</c> with the node's ratio (attribute
    /// before operator set 12, input since; 0.5 when absent), which is also the identity in evaluation
    /// and keeps the rate for further training. Training mode is refused.
    /// </summary>
    private void Dropout(NodeProto node)
    {
        var a = opset < 12 ? Attributes(node, "ratio", "is_test") : Attributes(node, "seed");
        RequireInputs(node, 1, opset < 12 ? 1 : 3);
        AllowUnusedExtraOutputs(node, 2);
        if (ConstantInput(node, 2, "training_mode", required: false) is { } mode)
        {
            bool training = mode.DataType == (int)DataType.Bool
                ? (mode.HasRawData ? mode.RawData.Span.IndexOfAnyExcept((byte)0) >= 0 : mode.Int32Data.Any(v => v != 0))
                : throw NodeFail($"training_mode '{mode.Name}' is {OnnxTensorData.TypeName(mode.DataType)}, expected bool");
            if (training) throw NodeFail("runs in training mode; SharpCnn imports inference graphs (training_mode false)");
        }
        double ratio = 0.5;
        if (opset < 12)
        {
            if (a.Has("ratio")) ratio = ShortestDecimal(a.Float("ratio", 0.5f), r => (float)r == a.Float("ratio", 0.5f));
        }
        else if (ConstantInput(node, 1, "ratio", required: false) is { } r)
        {
            ratio = Reals(r, "ratio") switch
            {
                [var v] => r.DataType == (int)DataType.Double ? v : ShortestDecimal(v, d => (float)d == (float)v),
                var vs => throw NodeFail($"ratio '{r.Name}' has {vs.Length} values, expected one"),
            };
        }
        if (!(ratio >= 0 && ratio < 1)) throw NodeFail($"has ratio {ratio}; a dropout rate is in [0, 1)");
        AddLayer("dropout" + Number(ratio), [], node);
    }

    /// <summary>
    /// BatchNormalization in inference mode → SharpCnn's <c>batchnorm</c>: per channel on maps [N, C, H, W],
    /// per feature on vectors [N, D] (C = D), with γ = scale, β = B and the running statistics = input_mean
    /// and input_var; y = γ (x - μ) / sqrt(σ² + ε) + β in both. ε comes from the epsilon attribute, ρ from
    /// momentum as 1 - momentum (ONNX's momentum weighs the old running value; ρ matters only in further
    /// training). Training mode (training_mode = 1, or the running or saved statistics as extra outputs)
    /// and per-value statistics (spatial = 0, operator sets 7 and 8) are refused.
    /// </summary>
    private void BatchNormalization(NodeProto node)
    {
        var a = opset < 9 ? Attributes(node, "epsilon", "momentum", "spatial")
            : opset < 14 ? Attributes(node, "epsilon", "momentum")
            : Attributes(node, "epsilon", "momentum", "training_mode");
        RequireInputs(node, 5, 5);
        if (node.Output.Count > 1)
            throw NodeFail($"has {node.Output.Count} outputs; only training mode writes the running{(opset < 14 ? " and saved" : "")} statistics as outputs, and SharpCnn imports inference graphs (one output Y)");
        RequireOutputs(node, 1);
        if (a.Int("training_mode", 0) != 0)
            throw NodeFail($"has training_mode {a.Int("training_mode", 0)}: it would normalise by each batch's statistics; SharpCnn imports inference graphs (training_mode 0), which use input_mean and input_var");
        if (a.Int("spatial", 1) != 1)
            throw NodeFail($"has spatial {a.Int("spatial", 1)}: statistics per value rather than per channel; SharpCnn's batch norm is per channel (spatial 1)");
        float eps = a.Float("epsilon", 1e-5f);
        if (!(eps > 0) || float.IsInfinity(eps)) throw NodeFail($"has epsilon {eps}; SharpCnn's batch norm needs a positive finite epsilon");
        double epsilon = ShortestDecimal(eps, e => (float)e == eps);
        double momentum = BatchNorm<double>.DefaultMomentum;
        if (a.Has("momentum"))
        {
            float m = a.Float("momentum", 0.9f);
            if (!(m >= 0 && m <= 1)) throw NodeFail($"has momentum {m}; expected a number in [0, 1]");
            if (m == 1)
                notes.Add($"{label} has momentum 1 (running statistics that never move), which SharpCnn's batch norm has no form for: the layer gets the default momentum {BatchNorm<double>.DefaultMomentum} for any further training; inference is unaffected");
            else
                momentum = ShortestDecimal(1 - (double)m, r => r > 0 && r <= 1 && (float)(1 - r) == m);
        }
        string what = flat ? "feature" : "channel";
        Claim(4 * channels, $"batch-norm parameters[4x{channels}]");
        var values = new double[4][];
        string[] roles = ["scale", "B", "input_mean", "input_var"];
        for (int i = 0; i < 4; i++)
        {
            var t = ConstantInput(node, i + 1, roles[i], required: true)!;
            if (t.Dims.Count != 1 || t.Dims[0] != channels)
                throw NodeFail($"{roles[i]} '{t.Name}' has dimensions {Dims(t)}; expected [{channels}], one value per {what} of its {(flat ? $"[N, {channels}]" : $"[N, {channels}, {height}, {width}]")} input");
            values[i] = Reals(t, roles[i]);
        }
        var variance = values[3];
        for (int c = 0; c < variance.Length; c++)
            if (!(variance[c] >= 0))
                throw NodeFail($"input_var '{node.Input[4]}' has {variance[c]} for {what} {c}; a variance is not negative");
        string token = "batchnorm"
            + (momentum == BatchNorm<double>.DefaultMomentum ? "" : ":m" + Number(momentum))
            + (epsilon == BatchNorm<double>.DefaultEpsilon ? "" : ":e" + Number(epsilon));
        AddLayer(token, values, node);
    }

    /// <summary>
    /// The number with the fewest significant digits near <paramref name="value"/> that <paramref name="reproduces"/>
    /// the file's value: the float32 1e-5f (9.99999974737875e-06 as a double) is read as 1e-5, as its writer
    /// meant; <paramref name="value"/> itself when no shorter number does.
    /// </summary>
    private static double ShortestDecimal(double value, Func<double, bool> reproduces)
    {
        for (int digits = 1; digits <= 17; digits++)
        {
            double candidate = double.Parse(value.ToString("E" + (digits - 1), CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
            if (reproduces(candidate)) return candidate;
        }
        return value;
    }

    /// <summary>A number as a spec token writes it: the shortest round-trip form, exponent in lower case.</summary>
    private static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture).ToLowerInvariant();

    private void Pad(NodeProto node)
    {
        var a = Attributes(node, "mode", "pads", "value");
        RequireMaps();
        string mode = a.String("mode", "constant");
        if (mode != "constant") throw NodeFail($"pads in '{mode}' mode; SharpCnn pads with zeros");
        long[] pads;
        double value;
        if (opset < 11)
        {
            RequireInputs(node, 1, 1);
            pads = a.IntList("pads") ?? throw NodeFail("has no pads");
            value = a.Float("value", 0f);
        }
        else
        {
            if (a.Has("pads") || a.Has("value")) throw NodeFail($"gives pads or value as attributes, which operator set {opset} takes as inputs");
            RequireInputs(node, 2, 4);
            if (node.Input.Count > 3 && node.Input[3].Length > 0) throw NodeFail("has an axes input; SharpCnn reads Pad over all four axes");
            pads = Integers(ConstantInput(node, 1, "pads", required: true)!, "pads");
            value = ConstantInput(node, 2, "constant_value", required: false) is { } v ? Reals(v, "constant_value") switch
            {
                [var x] => x,
                var xs => throw NodeFail($"constant_value has {xs.Length} values, expected one"),
            } : 0;
        }
        RequireOutputs(node, 1);
        if (pads.Length != 8) throw NodeFail($"has {pads.Length} pads; a [N, C, H, W] tensor takes 8");
        if (value != 0) throw NodeFail($"pads with {value}; SharpCnn pads with zeros");
        if (pads[0] != 0 || pads[1] != 0 || pads[4] != 0 || pads[5] != 0) throw NodeFail("pads the batch or channel axis");
        if (pads.Any(p => p < 0 || p > MaxPad)) throw NodeFail($"has pads [{string.Join(", ", pads)}]; each must be in 0..{MaxPad}");
        var (t, b, l, r) = pendingPad ?? (0, 0, 0, 0);
        pendingPad = (t + pads[2], b + pads[6], l + pads[3], r + pads[7]);
        pendingPadNode = label;
        // The padding is not applied to the tracked shape: the next Conv or pooling node takes it over.
    }

    private TensorProto ReadConstant(NodeProto node)
    {
        var a = Attributes(node, "value", "value_float", "value_floats", "value_int", "value_ints");
        if (node.Input.Count > 0) throw NodeFail($"has {node.Input.Count} inputs; Constant takes none");
        var present = new[] { "value", "value_float", "value_floats", "value_int", "value_ints" }.Where(a.Has).ToList();
        if (present.Count != 1) throw NodeFail(present.Count == 0 ? "has no value (SharpCnn reads value, value_float(s) and value_int(s))" : $"gives {string.Join(" and ", present)}; a Constant has one value");
        var tensor = new TensorProto { Name = node.Output[0] };
        switch (present[0])
        {
            case "value":
                var t = a.Tensor("value")!;
                tensor.MergeFrom(t);
                tensor.Name = node.Output[0];
                break;
            case "value_float":
                tensor.DataType = (int)DataType.Float;
                tensor.FloatData.Add(a.Float("value_float", 0f));
                break;
            case "value_floats":
                tensor.DataType = (int)DataType.Float;
                tensor.FloatData.AddRange(a.Floats("value_floats")!);
                tensor.Dims.Add(tensor.FloatData.Count);
                break;
            case "value_int":
                tensor.DataType = (int)DataType.Int64;
                tensor.Int64Data.Add(a.Int("value_int", 0));
                break;
            default:
                tensor.DataType = (int)DataType.Int64;
                tensor.Int64Data.AddRange(a.IntList("value_ints")!);
                tensor.Dims.Add(tensor.Int64Data.Count);
                break;
        }
        return tensor;
    }
}
