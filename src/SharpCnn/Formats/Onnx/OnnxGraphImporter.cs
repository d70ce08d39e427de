using System.Globalization;
using SharpCnn.Formats.Onnx.Proto;
using SharpCnn.Layers;
using SharpCnn.Tensors;
using DataType = SharpCnn.Formats.Onnx.Proto.TensorProto.Types.DataType;

namespace SharpCnn.Formats.Onnx;

/// <summary>
/// Walks an ONNX graph node by node and translates it into SharpCnn layer descriptions and
/// weights (a <see cref="Plan"/>), tracking the activation's per-sample shape in 64-bit
/// arithmetic against fixed limits. See <see cref="OnnxImport"/> for what is accepted.
/// The walk itself reads the graph's structure: its input and output, constants, a zero Pad
/// (merged into the next Conv or pooling), an Add of a constant (merged into the bias before it)
/// and a final Softmax (kept as the loss). Every other operator is read by the layer kind that
/// lists it (<see cref="LayerKind.ImportOnnx"/>, in the layer's own file), through the helpers
/// here: the walk is that import's context.
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

    /// <summary>The largest size a layer takes (kernel, units, channels).</summary>
    public const long MaxSize = 1_000_000;

    /// <summary>The largest padding per side a convolution takes.</summary>
    public const long MaxPad = 9_999;

    private const int MaxNodes = 100_000;

    /// <summary>
    /// Parameter values the network of any file may have beyond those its tensors carry (a
    /// larger file may add as many as it carries): the zeros and repeats the importer fills in,
    /// for biases left out or given as one value and between the groups of a grouped convolution.
    /// </summary>
    public const long FillAllowance = 1 << 16;

    /// <summary>The operators the walk reads itself; the layer kinds read the others (<see cref="Operators"/>).</summary>
    private static readonly string[] GraphOperators = ["Add", "Softmax", "Constant", "Pad"];

    /// <summary>The operators <see cref="Translate"/> reads: those of the registered layer kinds, then the graph's own.</summary>
    public static IReadOnlyList<string> Operators => [.. LayerKinds.OnnxOperators, .. GraphOperators];

    /// <summary>One layer of the translation: its description, its parameter values in the layer's order, the tensor it writes, and which Add may become its bias.</summary>
    public sealed class LayerPlan(LayerSpec spec, double[][] parameters, string output, OnnxBias bias, string node)
    {
        public LayerSpec Spec { get; } = spec;
        public string Token => Spec.Token;
        public string Node { get; } = node;
        public double[][] Parameters { get; } = parameters;
        public string Output { get; set; } = output;
        public OnnxBias Bias { get; } = bias;
    }

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
    private Expectation? expected;

    // The node being translated, for messages.
    private string label = "";

    public OnnxGraphImporter(string path, ModelProto model)
    {
        this.path = path;
        this.model = model;
    }

    private FileFormatException Fail(string problem) => new(path, -1, problem);

    // ---- the context a layer kind imports a node in ---------------------------------------------

    /// <summary>The error for the node being translated: the file, then <c>node {i} '{name}' ({op}) {problem}</c>.</summary>
    internal FileFormatException NodeFail(string problem) => new(path, -1, $"{label} {problem}");

    /// <summary>The node being translated, for messages: <c>node {i} '{name}' ({op})</c>.</summary>
    internal string Label => label;

    /// <summary>The version of the standard operator set the model uses.</summary>
    internal long Opset => opset;

    /// <summary>The batch size the graph input fixes, if it fixes one.</summary>
    internal long? FixedBatch => fixedBatch;

    /// <summary>The chain's current end: the tensor the next layer reads.</summary>
    internal string Current => current;

    /// <summary>Channels (or features, when <see cref="Flat"/>) of the activation per sample.</summary>
    internal long Channels => channels;

    /// <summary>Rows of the activation's maps (1 when <see cref="Flat"/>).</summary>
    internal long Height => height;

    /// <summary>Columns of the activation's maps (1 when <see cref="Flat"/>).</summary>
    internal long Width => width;

    /// <summary>Whether the activation is [N, D] (true) or [N, C, H, W].</summary>
    internal bool Flat => flat;

    /// <summary>Values per sample of the activation.</summary>
    internal long SampleSize => channels * height * width;

    /// <summary>Sets the activation's per-sample shape after the node (checked against the limits when the node is done).</summary>
    internal void SetShape(long channels, long height, long width, bool flat) =>
        (this.channels, this.height, this.width, this.flat) = (channels, height, width, flat);

    /// <summary>The last layer added so far, or null (a kind may fold a node into it, as an Add folds into a bias).</summary>
    internal LayerPlan? LastLayer => layers.Count > 0 ? layers[^1] : null;

    /// <summary>Layers added so far.</summary>
    internal int LayerCount => layers.Count;

    /// <summary>Adds <paramref name="message"/> to what the importer reports it folded or changed.</summary>
    internal void Note(string message) => notes.Add(message);

    /// <summary>The zero padding (top, bottom, left, right) of Pad nodes right before this node, not yet taken over.</summary>
    internal (long Top, long Bottom, long Left, long Right)? PendingPad => pendingPad;

    /// <summary>Marks the pending zero padding as taken over by this node, noting <paramref name="note"/>(the Pad node's label).</summary>
    internal void TakePendingPad(Func<string, string> note)
    {
        if (pendingPad is null) return;
        notes.Add(note(pendingPadNode));
        pendingPad = null;
    }

    /// <summary>
    /// Requires the next node to be an <paramref name="op"/> that completes this one (read by the same
    /// kind, which finds <paramref name="state"/> with <see cref="TakeExpected"/>); any other node, or the
    /// graph's end, fails with this node's label and <paramref name="problem"/>.
    /// </summary>
    internal void ExpectNext(string op, string problem, object state) => expected = new Expectation(op, label, problem, state);

    /// <summary>What the node before asked of this <paramref name="op"/> node (and stops asking), or null.</summary>
    internal Expectation? TakeExpected(string op)
    {
        if (expected is not { } e || e.Operator != op) return null;
        expected = null;
        return e;
    }

    /// <summary>A node the previous node needs next: its operator, the previous node's label, why, and what it left for it.</summary>
    internal sealed record Expectation(string Operator, string Node, string Problem, object State);

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
        if (layers.Count == 0) layers.Add(new LayerPlan(IdentitySpec.Instance, [], current, OnnxBias.None, ""));
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
    internal void Claim(long values, string what)
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
        if (expected is { } e) throw Fail($"{e.Node} {e.Problem}");
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
        if (expected is { } e && node.OpType != e.Operator)
            throw new FileFormatException(path, -1, $"{e.Node} {e.Problem}");
        if (pendingPad is not null && node.OpType is not ("Conv" or "MaxPool" or "AveragePool"))
            throw NodeFail($"follows the Pad of {pendingPadNode}; SharpCnn takes zero padding only as part of a following Conv, MaxPool or AveragePool");

        string before = current;
        switch (node.OpType)
        {
            case "Add": Add(node); break;
            case "Softmax": Softmax(node); break;
            case "Pad": Pad(node); break;
            default:
                var kind = LayerKinds.ForOnnxOperator(node.OpType)
                    ?? throw NodeFail($"is not an operator SharpCnn can import; supported: {string.Join(", ", Operators)}");
                kind.ImportOnnx(this, node);
                break;
        }
        pastActivations.Add(before);
        current = node.Output[0];
        defined.Add(current);
        if (SampleSize > MaxSampleValues) throw NodeFail($"makes {SampleSize} values per sample; this reader takes at most {MaxSampleValues}");
    }

    // ---- inputs, outputs, attributes ---------------------------------------------------------

    internal OnnxNodeAttributes Attributes(NodeProto node, params string[] known) => new(node, known, NodeFail);

    /// <summary>Checks that input 0 is the chain's activation and the node has between min and max inputs.</summary>
    internal void RequireInputs(NodeProto node, int min, int max)
    {
        if (node.Input.Count < min || node.Input.Count > max)
            throw NodeFail(min == max ? $"has {node.Input.Count} inputs, expected {min}" : $"has {node.Input.Count} inputs, expected {min} to {max}");
        if (node.Input[0] != current)
            throw NodeFail($"reads the activation '{current}' as input {node.Input.IndexOf(current) + 1}, not as its data input 1");
        for (int i = 1; i < node.Input.Count; i++)
            if (node.Input[i] == current) throw NodeFail($"reads the activation '{current}' as input {i + 1}, where a constant belongs");
    }

    /// <summary>Checks that the node writes exactly <paramref name="count"/> outputs.</summary>
    internal void RequireOutputs(NodeProto node, int count)
    {
        int written = node.Output.Count(o => o.Length > 0);
        if (node.Output.Count > count || written != count)
            throw NodeFail($"has {node.Output.Count} outputs, expected {count}");
    }

    /// <summary>Allows optional extra outputs as long as nothing reads them.</summary>
    internal void AllowUnusedExtraOutputs(NodeProto node, int max)
    {
        if (node.Output.Count > max) throw NodeFail($"has {node.Output.Count} outputs, expected at most {max}");
        for (int i = 1; i < node.Output.Count; i++)
            if (node.Output[i].Length > 0) unusableOutputs[node.Output[i]] = label;
    }

    /// <summary>The constant tensor named by input <paramref name="index"/>, or null when the optional input is absent.</summary>
    internal TensorProto? ConstantInput(NodeProto node, int index, string role, bool required)
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

    internal double[] Reals(TensorProto tensor, string role)
    {
        var values = OnnxTensorData.Reals(tensor, out string? error);
        if (error is not null) throw NodeFail($"{role} '{tensor.Name}' {error}");
        return values;
    }

    internal long[] Integers(TensorProto tensor, string role)
    {
        var values = OnnxTensorData.Integers(tensor, out string? error);
        if (error is not null) throw NodeFail($"{role} '{tensor.Name}' {error}");
        return values;
    }

    internal static string Dims(TensorProto t) => $"[{string.Join(", ", t.Dims)}]";

    internal void RequireMaps()
    {
        if (flat) throw NodeFail($"needs maps [N, C, H, W], but its input is a flat [N, {channels}] tensor");
    }

    /// <summary>
    /// Adds the layer <paramref name="spec"/> the node translates to, with its parameter values in the layer's
    /// order; <paramref name="bias"/> says how an Add of a constant right after it folds into its bias.
    /// </summary>
    internal void AddLayer(LayerSpec spec, double[][] parameters, NodeProto node, OnnxBias bias = OnnxBias.None) =>
        layers.Add(new LayerPlan(spec, parameters, node.Output[0], bias, label));

    /// <summary>An element-by-element operator with no attributes and one input → the layer <paramref name="spec"/>.</summary>
    internal void AddElementwise(NodeProto node, LayerSpec spec)
    {
        Attributes(node);
        RequireInputs(node, 1, 1);
        RequireOutputs(node, 1);
        AddLayer(spec, [], node);
    }

    /// <summary>A bias of <paramref name="count"/> values from input <paramref name="index"/> (zeros when absent); a single value is broadcast.</summary>
    internal double[] Bias(NodeProto node, int index, long count)
    {
        var b = ConstantInput(node, index, "bias", required: false);
        Claim(count, $"bias[{count}]");
        if (b is null) return new double[count];
        var values = Reals(b, "bias");
        if (values.Length == count && (b.Dims.Count == 1 || (b.Dims.Count == 2 && b.Dims[0] == 1))) return values;
        if (values.Length == 1) return Enumerable.Repeat(values[0], (int)count).ToArray();
        throw NodeFail($"bias '{b.Name}' has dimensions {Dims(b)}; expected [{count}]");
    }

    /// <summary>A node that changes nothing: the last layer's output name moves on with it (so a following Add still finds its layer).</summary>
    internal void PassThrough(NodeProto node, string[] attributes)
    {
        Attributes(node, attributes);
        RequireInputs(node, 1, 1);
        RequireOutputs(node, 1);
        MoveLayerOutput(node);
    }

    internal void MoveLayerOutput(NodeProto node)
    {
        if (layers.Count > 0 && layers[^1].Output == current) layers[^1].Output = node.Output[0];
    }

    // ---- operators --------------------------------------------------------------------------

    internal void CheckDilations(OnnxNodeAttributes a)
    {
        if (a.Ints("dilations", 2) is { } d && (d[0] != 1 || d[1] != 1))
            throw NodeFail($"has dilations [{d[0]}, {d[1]}]; SharpCnn has no dilated windows");
    }

    internal long Stride(OnnxNodeAttributes a)
    {
        var s = a.Ints("strides", 2) ?? [1, 1];
        if (s[0] != s[1]) throw NodeFail($"has strides [{s[0]}, {s[1]}]; SharpCnn moves its windows by one stride in both directions");
        if (s[0] < 1 || s[0] > MaxSize) throw NodeFail($"has stride {s[0]}");
        return s[0];
    }

    /// <summary>The padding (top, left, bottom, right) from pads or auto_pad.</summary>
    internal (long Top, long Left, long Bottom, long Right) ResolvePads(OnnxNodeAttributes a, long kh, long kw, long stride)
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

    /// <summary>Add of a constant right after a Gemm/MatMul (bias [M]) or a Conv (bias [M, 1, 1]): folded into that layer's bias.</summary>
    private void Add(NodeProto node)
    {
        Attributes(node);
        if (node.Input.Count != 2) throw NodeFail($"has {node.Input.Count} inputs, expected 2");
        RequireOutputs(node, 1);
        int data = node.Input[0] == current ? 0 : 1;
        if (node.Input[1 - data] == current) throw NodeFail("adds the activation to itself");
        var c = ConstantInput(node, 1 - data, "addend", required: true)!;
        if (layers.Count == 0 || layers[^1].Output != current || layers[^1].Bias == OnnxBias.None)
            throw NodeFail("adds a constant that is not the bias of a Gemm, MatMul or Conv right before it; SharpCnn has no separate addition layer");
        var layer = layers[^1];
        long m = channels;
        var dims = c.Dims;
        bool fits = layer.Bias == OnnxBias.PerFeature
            ? dims.Count == 0 || (dims.Count == 1 && (dims[0] == 1 || dims[0] == m)) || (dims.Count == 2 && dims[0] == 1 && (dims[1] == 1 || dims[1] == m))
            : dims.Count == 0 || (dims.Count == 1 && dims[0] == 1)
              || (dims.Count == 3 && (dims[0] == m || dims[0] == 1) && dims[1] == 1 && dims[2] == 1)
              || (dims.Count == 4 && dims[0] == 1 && (dims[1] == m || dims[1] == 1) && dims[2] == 1 && dims[3] == 1);
        if (!fits) throw NodeFail($"adds '{c.Name}' {Dims(c)}, which is not a per-{(layer.Bias == OnnxBias.PerFeature ? "feature" : "channel")} bias for the {m} outputs before it");
        var values = Reals(c, "addend");
        var bias = layer.Parameters[1];
        for (int i = 0; i < bias.Length; i++) bias[i] += values.Length == 1 ? values[0] : values[i];
        notes.Add($"{label} became the bias of layer {layers.Count} ({layer.Token})");
        layer.Output = node.Output[0];
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
    /// The number with the fewest significant digits near <paramref name="value"/> that <paramref name="reproduces"/>
    /// the file's value: the float32 1e-5f (9.99999974737875e-06 as a double) is read as 1e-5, as its writer
    /// meant; <paramref name="value"/> itself when no shorter number does.
    /// </summary>
    internal static double ShortestDecimal(double value, Func<double, bool> reproduces)
    {
        for (int digits = 1; digits <= 17; digits++)
        {
            double candidate = double.Parse(value.ToString("E" + (digits - 1), CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
            if (reproduces(candidate)) return candidate;
        }
        return value;
    }

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

/// <summary>How an Add of a constant right after an imported layer folds into that layer's bias.</summary>
internal enum OnnxBias
{
    /// <summary>It does not: the layer has no bias an Add could be.</summary>
    None,

    /// <summary>One value per feature of an [N, D] output (Gemm, MatMul).</summary>
    PerFeature,

    /// <summary>One value per channel of an [N, C, H, W] output (Conv).</summary>
    PerChannel,
}
