// The ONNX part of the hostile-input corpus: small valid models (a hand-built CNN, one with
// batch normalisation and dropout, models exported by SharpCnn, one with typed float/double
// fields, Constant nodes and a Pad merged into a Conv), then files that are empty, truncated, not protobuf or not ONNX, with wrong
// wire types, unsupported versions, operators and attributes, graphs that are out of order,
// cyclic, branching or missing initializers, tensors whose data is shorter than their
// dimensions, external, non-finite or of the wrong type, and small files claiming huge
// inputs or layers. Every model is built from scratch (Google.Protobuf writes the same bytes
// for the same message; weights are written little-endian), so its bytes are the same on
// every machine.

using Google.Protobuf;
using SharpCnn.Formats.Onnx;
using SharpCnn.Formats.Onnx.Proto;
using SharpCnn.Tensors;
using SharpCnn.Tests.Formats.Onnx;
using static SharpCnn.Tests.Formats.Onnx.OnnxTestModel;
using DataType = SharpCnn.Formats.Onnx.Proto.TensorProto.Types.DataType;

namespace SharpCnn.Tests.Hostile;

internal sealed class OnnxCorpus : ICorpusFormat
{
    private const string R = "onnx", D = "onnx-double";

    public string Folder => "onnx";

    public bool ByteOffsets => false;

    /// <summary>Conv, Relu, MaxPool, Flatten, Gemm, Softmax on 1x6x6 (nodes 'c_node', 'r_node', 'p_node', 'f_node', 'g_node', 'y_node').</summary>
    public static OnnxTestModel Cnn()
    {
        var m = new OnnxTestModel(13, 1, 6, 6);
        m.Floats("W", [2, 1, 3, 3], Values(18, 1));
        m.Floats("B", [2], 0.125f, -0.125f);
        m.Floats("G", [3, 8], Values(24, 2));
        m.Floats("C", [3], 0, 1, 2);
        m.Node("Conv", ["x", "W", "B"], "c");
        m.Node("Relu", ["c"], "r");
        m.Node("MaxPool", ["r"], "p", Ints("kernel_shape", 2, 2), Ints("strides", 2, 2));
        m.Node("Flatten", ["p"], "f");
        m.Node("Gemm", ["f", "G", "C"], "g", Int("transB", 1));
        m.Node("Softmax", ["g"], "y");
        m.Output("y");
        return m;
    }

    /// <summary>Opset 11: Pad (pads as an input) merged into a Conv with double_data weights, Tanh, AveragePool, Reshape to [-1, 12] from a Constant node, Gemm with float_data.</summary>
    public static OnnxTestModel Typed()
    {
        var m = new OnnxTestModel(11, 2, 5, 5);
        m.Int64s("pads", 0, 0, 1, 1, 0, 0, 0, 0);
        m.Doubles("W", [3, 2, 2, 2], [.. Values(24, 3).Select(v => (double)v)]);
        m.Doubles("B", [3], 0.5, -0.25, 0);
        m.FloatData("G", [12, 2], Values(24, 4));
        m.Node("Pad", ["x", "pads"], "padded");
        m.Node("Conv", ["padded", "W", "B"], "c", Ints("kernel_shape", 2, 2));
        m.Node("Tanh", ["c"], "t");
        m.Node("AveragePool", ["t"], "a", Ints("kernel_shape", 2, 2), Ints("strides", 2, 2));
        m.Node("Constant", [], "shape", new AttributeProto { Name = "value_ints", Type = AttributeProto.Types.AttributeType.Ints, Ints = { -1, 12 } });
        m.Node("Reshape", ["a", "shape"], "v");
        m.Node("Gemm", ["v", "G"], "y", Float("alpha", 0.5f));
        m.Output("y");
        return m;
    }

    /// <summary>Opset 9 on [N, 6] vectors: MatMul with a Constant-node bias Add, Dropout, Sigmoid, Identity.</summary>
    public static OnnxTestModel Dense()
    {
        var m = new OnnxTestModel(9, 6);
        m.Floats("M", [6, 4], Values(24, 5));
        m.Node("MatMul", ["x", "M"], "mm");
        var bias = new TensorProto { DataType = (int)DataType.Float, Dims = { 4 }, FloatData = { 0.25f, -0.5f, 0.75f, -1 } };
        m.Node("Constant", [], "bias", new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = bias });
        m.Node("Add", ["mm", "bias"], "z");
        m.Node("Dropout", ["z"], "d", Float("ratio", 0.5f));
        m.Node("Sigmoid", ["d"], "s");
        m.Node("Identity", ["s"], "y");
        m.Output("y");
        return m;
    }

    /// <summary>
    /// Opset 15 on 2x6x6: Conv, BatchNormalization (ε 1e-3, momentum 0.99) over its 3 channels, Relu, MaxPool,
    /// Dropout (ratio 0.25 as an input), Flatten, Gemm, BatchNormalization over its 4 features, Softmax
    /// (nodes 'c_node', 'bn_node', 'r_node', 'p_node', 'd_node', 'f_node', 'g_node', 'bn2_node', 'y_node';
    /// initializers W, scale, B, mean, var, ratio, G, C, scale2, B2, mean2, var2 in that order).
    /// </summary>
    public static OnnxTestModel BatchNormCnn()
    {
        var m = new OnnxTestModel(15, 2, 6, 6);
        m.Floats("W", [3, 2, 3, 3], Values(54, 8));
        m.Floats("scale", [3], Values(3, 9));
        m.Floats("B", [3], Values(3, 10));
        m.Floats("mean", [3], Values(3, 11));
        m.Floats("var", [3], [.. Values(3, 12).Select(v => v * v + 0.5f)]);
        m.Floats("ratio", [], 0.25f);
        m.Floats("G", [4, 12], Values(48, 13));
        m.Floats("C", [4], Values(4, 14));
        m.Floats("scale2", [4], Values(4, 15));
        m.Floats("B2", [4], Values(4, 16));
        m.Floats("mean2", [4], Values(4, 17));
        m.Floats("var2", [4], [.. Values(4, 18).Select(v => v * v + 0.25f)]);
        m.Node("Conv", ["x", "W"], "c");
        m.Node("BatchNormalization", ["c", "scale", "B", "mean", "var"], "bn", Float("epsilon", 1e-3f), Float("momentum", 0.99f));
        m.Node("Relu", ["bn"], "r");
        m.Node("MaxPool", ["r"], "p", Ints("kernel_shape", 2, 2), Ints("strides", 2, 2));
        m.Node("Dropout", ["p", "ratio"], "d");
        m.Node("Flatten", ["d"], "f");
        m.Node("Gemm", ["f", "G", "C"], "g", Int("transB", 1));
        m.Node("BatchNormalization", ["g", "scale2", "B2", "mean2", "var2"], "bn2");
        m.Node("Softmax", ["bn2"], "y");
        m.Output("y");
        return m;
    }

    /// <summary>What SharpCnn's exporter writes for <paramref name="spec"/> (uniform weights, exact everywhere; a fixed producer version).</summary>
    public static byte[] Exported(string spec, Shape input, string loss)
    {
        var model = OnnxExport.Build(ModelCorpus.Network<float>(spec, input, loss), null);
        model.ProducerVersion = "corpus";
        return model.ToByteArray();
    }

    /// <summary><paramref name="count"/> small exact values (multiples of 1/16 in [-1, 1)).</summary>
    private static float[] Values(int count, int seed) => [.. Enumerable.Range(0, count).Select(i => ((i * 7 + seed * 5) % 32 - 16) / 16f)];

    public IEnumerable<CorpusFile> Generate()
    {
        byte[] cnn = Cnn().Bytes();

        // Valid models: the seeds of the mutation tests.
        yield return new("good-cnn.onnx", cnn, R, CorpusFile.Ok);
        yield return new("good-typed-fields-pad-constant.onnx", Typed().Bytes(), R, CorpusFile.Ok);
        yield return new("good-typed-fields-as-double.onnx", Typed().Bytes(), D, CorpusFile.Ok);
        yield return new("good-dense-opset9.onnx", Dense().Bytes(), R, CorpusFile.Ok);
        yield return new("good-exported-padded-maxpool.onnx", Exported("conv3x3x2,relu,maxpool2:pad,flatten,dense3", new Shape(1, 5, 5), "ce"), R, CorpusFile.Ok);
        yield return new("good-exported-table-subsample.onnx", Exported("conv3x3x3:same:table=10.01.11,tanh,subsample2:pad,sigmoid,flatten,dense2", new Shape(2, 5, 5), "mse"), R, CorpusFile.Ok);

        yield return new("good-batchnorm-dropout-opset15.onnx", BatchNormCnn().Bytes(), R, CorpusFile.Ok);
        yield return new("good-batchnorm-dropout-as-double.onnx", BatchNormCnn().Bytes(), D, CorpusFile.Ok);
        yield return new("good-exported-batchnorm-dropout.onnx", Exported("conv3x3x2,batchnorm,relu,maxpool2,dropout0.25,flatten,dense3,batchnorm:m0.01:e0.001", new Shape(1, 6, 6), "ce"), R, CorpusFile.Ok);

        // Empty, truncated, not protobuf, not ONNX.
        yield return new("empty.onnx", [], R, "the model has no ir_version: this is not an ONNX model");
        yield return new("text.onnx", "this is not a model at all, just text\n"u8.ToArray(), R, "the model has no ir_version: this is not an ONNX model");
        yield return new("sharpcnn-model-file.onnx", ModelCorpus.SmallFloat(), R, "is not a valid ONNX (protobuf) model: Protocol message contained a tag with an invalid wire type");
        yield return new("png-image.onnx", PngCorpus.Grey8(), R, "is not a valid ONNX (protobuf) model: Protocol message contained an invalid tag (zero)");
        yield return new("cut-after-ir-version.onnx", cnn[..2], R, "the model imports no standard operator set (opset_import for domain \"\")");
        yield return new("cut-in-graph.onnx", cnn[..(cnn.Length / 2)], R, "is not a valid ONNX (protobuf) model: While parsing a protocol message, the input ended unexpectedly in the middle of a field");
        yield return new("cut-before-opset.onnx", cnn[..(cnn.Length - Cnn().Model.OpsetImport[0].CalculateSize() - 2)], R, "the model imports no standard operator set (opset_import for domain \"\")");
        yield return new("cut-in-last-byte.onnx", cnn[..^1], R, "is not a valid ONNX (protobuf) model: While parsing a protocol message, the input ended unexpectedly in the middle of a field");

        // Wire types and encodings the protobuf reader must refuse, or skip as unknown fields.
        byte[] opset = new ModelProto { OpsetImport = { new OperatorSetIdProto { Domain = "", Version = 13 } } }.ToByteArray();
        byte[] graph = new ModelProto { Graph = Cnn().Graph }.ToByteArray();
        yield return new("wire-ir-version-as-bytes.onnx", [0x0A, 0x01, 0x07, .. graph, .. opset], R, "the model has no ir_version: this is not an ONNX model");
        yield return new("wire-graph-as-varint.onnx", [0x08, 0x07, 0x38, 0x05, .. opset], R, "the model has no graph");
        yield return new("wire-type-7.onnx", [0x08, 0x07, 0x0F, 0x01, .. graph, .. opset], R, "is not a valid ONNX (protobuf) model: Protocol message contained a tag with an invalid wire type");
        yield return new("wire-tag-zero.onnx", [0x08, 0x07, 0x00, .. graph, .. opset], R, "is not a valid ONNX (protobuf) model: Protocol message contained an invalid tag (zero)");
        yield return new("varint-eleven-bytes.onnx", [0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, .. graph, .. opset], R, "is not a valid ONNX (protobuf) model: CodedInputStream encountered a malformed varint");
        yield return new("graph-length-2gib.onnx", [0x08, 0x07, 0x3A, 0xFF, 0xFF, 0xFF, 0xFF, 0x07, .. graph[2..]], R, "is not a valid ONNX (protobuf) model: While parsing a protocol message, the input ended unexpectedly in the middle of a field");
        yield return new("groups-nested-200-deep.onnx", [.. Enumerable.Repeat(new byte[] { 0x9B, 0x06 }, 200).SelectMany(b => b)], R, "is not a valid ONNX (protobuf) model: Protocol message had too many levels of nesting");

        // Versions this importer does not read.
        yield return new("ir-version-2.onnx", Edit(m => m.Model.IrVersion = 2), R, "the model has ONNX IR version 2; this reader takes versions 3 to 11");
        yield return new("ir-version-12.onnx", Edit(m => m.Model.IrVersion = 12), R, "the model has ONNX IR version 12; this reader takes versions 3 to 11");
        yield return new("opset-6.onnx", Edit(m => m.Model.OpsetImport[0].Version = 6), R, "the model uses operator set 6; this reader takes 7 to 23");
        yield return new("opset-99.onnx", Edit(m => m.Model.OpsetImport[0].Version = 99), R, "the model uses operator set 99; this reader takes 7 to 23");
        yield return new("opset-custom-domain-only.onnx", Edit(m => m.Model.OpsetImport[0].Domain = "com.example"), R, "the model imports no standard operator set");
        yield return new("opset-twice.onnx", Edit(m => m.Model.OpsetImport.Add(new OperatorSetIdProto { Domain = "ai.onnx", Version = 13 })), R, "the model imports the standard operator set more than once");
        yield return new("graph-missing.onnx", Edit(m => m.Model.Graph = null), R, "the model has no graph");

        // Inputs that are missing, doubled, of the wrong type, unknown, empty or huge.
        yield return new("input-none.onnx", Edit(m => m.Graph.Input.Clear()), R, "the graph has no input besides its initializers");
        yield return new("input-two.onnx", Edit(m => m.Graph.Input.Add(Value("z", (int)DataType.Float, 3))), R, "the graph has 2 inputs ('x', 'z'); a SharpCnn network takes one image tensor");
        yield return new("input-int64.onnx", Edit(m => m.Graph.Input[0].Type.TensorType.ElemType = (int)DataType.Int64), R, "the graph input 'x' holds int64 values; SharpCnn takes float or double inputs");
        yield return new("input-three-dimensions.onnx", Edit(m => m.Graph.Input[0].Type.TensorType.Shape.Dim.RemoveAt(3)), R, "the graph input 'x' has 3 dimensions; SharpCnn takes [N, C, H, W] images or [N, D] vectors");
        yield return new("input-height-unknown.onnx", Edit(m => m.Graph.Input[0].Type.TensorType.Shape.Dim[2] = new TensorShapeProto.Types.Dimension { DimParam = "height" }), R, "the graph input 'x' leaves dimension 2 unknown ('height')");
        yield return new("input-width-zero.onnx", Edit(m => m.Graph.Input[0].Type.TensorType.Shape.Dim[3].DimValue = 0), R, "the graph input 'x' has dimension 3 = 0; each must be in 1..1000000");
        yield return new("input-width-huge.onnx", Edit(m => m.Graph.Input[0].Type.TensorType.Shape.Dim[3].DimValue = long.MaxValue), R, "the graph input 'x' has dimension 3 = 9223372036854775807; each must be in 1..1000000");
        yield return new("input-a-billion-values.onnx", Model(new OnnxTestModel(13, 1000, 1000, 1000), m => { m.Node("Relu", ["x"], "y"); m.Output("y"); }), R, "the graph input 'x' has 1000000000 values per sample; this reader takes at most 16777216");

        // Nodes: unsupported operators, foreign domains, graphs out of order, cyclic, branching or missing initializers.
        yield return new("operator-elu.onnx", Edit(m => m.Graph.Node[1].OpType = "Elu"), R, "node 2 'r_node' (Elu) is not an operator SharpCnn can import; supported: Conv, MaxPool");
        yield return new("operator-custom-domain.onnx", Edit(m => m.Graph.Node[1].Domain = "com.microsoft"), R, "node 2 'r_node' (Relu) is from the operator domain 'com.microsoft'");
        yield return new("initializer-missing.onnx", Edit(m => m.Graph.Initializer.RemoveAt(0)), R, "node 1 'c_node' (Conv) reads 'W', which is not the graph input, an initializer or the output of an earlier node (the graph is out of order, has a cycle, or lacks that initializer)");
        yield return new("initializer-twice.onnx", Edit(m => m.Floats("W", [1], 1f)), R, "two initializers are named 'W'");
        yield return new("cycle.onnx", Edit(m => m.Graph.Node[1].Input[0] = "p"), R, "node 2 'r_node' (Relu) reads 'p', which is not the graph input, an initializer or the output of an earlier node");
        yield return new("nodes-out-of-order.onnx", Edit(m => { var relu = m.Graph.Node[1]; m.Graph.Node.RemoveAt(1); m.Graph.Node.Add(relu); }), R, "node 2 'p_node' (MaxPool) reads 'r', which is not the graph input");
        yield return new("branch.onnx", Edit(m => m.Graph.Node[2].Input[0] = "c"), R, "node 3 'p_node' (MaxPool) reads 'c', an earlier activation than the chain's end 'r': the graph branches");
        yield return new("tensor-written-twice.onnx", Edit(m => m.Graph.Node[1].Output[0] = "c"), R, "node 2 'r_node' (Relu) writes 'c', which is already defined (every tensor must be written once)");
        yield return new("node-without-output.onnx", Edit(m => m.Graph.Node[1].Output.Clear()), R, "node 2 'r_node' (Relu) has no output");
        yield return new("constants-only.onnx", Edit(m => m.Graph.Node.Insert(0, new NodeProto { OpType = "Mul", Name = "fold", Input = { "W", "W" }, Output = { "W2" } })), R, "node 1 'fold' (Mul) computes on constants only");
        yield return new("weight-from-activation.onnx", Edit(m => m.Graph.Node[4].Input[1] = "f"), R, "node 5 'g_node' (Gemm) reads the activation 'f' as input 2, where a constant belongs");
        yield return new("softmax-in-the-middle.onnx", Edit(m => { m.Graph.Node.Insert(4, new NodeProto { OpType = "Softmax", Name = "early", Input = { "f" }, Output = { "s" } }); m.Graph.Node[5].Input[0] = "s"; }), R, "node 6 'g_node' (Gemm) reads the output of the Softmax");

        // Tensors whose data does not match their dimensions, lives elsewhere, is not finite or not real.
        yield return new("weight-data-shorter-than-dims.onnx", Edit(m => { m.Graph.Initializer[0].Dims.Clear(); m.Graph.Initializer[0].Dims.AddRange([100_000, 1, 3, 3]); }), R,
            "node 1 'c_node' (Conv) weight 'W' has 72 bytes of raw data, its dimensions [100000, 1, 3, 3] need 3600000");
        yield return new("weight-dims-beyond-any-array.onnx", Edit(m => { m.Graph.Initializer[0].Dims.Clear(); m.Graph.Initializer[0].Dims.AddRange([1L << 40, 1, 3, 3]); }), R,
            "node 1 'c_node' (Conv) weight 'W' has dimensions [1099511627776, 1, 3, 3]; each must be in 1..1000000");
        yield return new("weight-dim-negative.onnx", Edit(m => m.Graph.Initializer[2].Dims[0] = -3), R, "node 5 'g_node' (Gemm) has -3 outputs; expected 1..1000000");
        yield return new("bias-float-data-short.onnx", Edit(m => { m.Graph.Initializer[1].ClearRawData(); m.Graph.Initializer[1].FloatData.Add(1f); }), R, "node 1 'c_node' (Conv) bias 'B' has 1 float_data values, its dimensions [2] need 2");
        yield return new("bias-double-data-short.onnx", Model(Typed(), m => m.Graph.Initializer[2].DoubleData.RemoveAt(2)), R, "node 2 'c_node' (Conv) bias 'B' has 2 double_data values, its dimensions [3] need 3");
        yield return new("weight-int32.onnx", Edit(m => m.Graph.Initializer[0].DataType = (int)DataType.Int32), R, "node 1 'c_node' (Conv) weight 'W' holds int32 values; SharpCnn imports float and double weights");
        yield return new("weight-type-77.onnx", Edit(m => m.Graph.Initializer[0].DataType = 77), R, "node 1 'c_node' (Conv) weight 'W' holds unknown type 77 values");
        yield return new("weight-external-data.onnx", Edit(m =>
        {
            var w = m.Graph.Initializer[0];
            w.ClearRawData();
            w.DataLocation = TensorProto.Types.DataLocation.External;
            w.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "/etc/passwd" });
        }), R, "node 1 'c_node' (Conv) weight 'W' keeps its data in an external file; SharpCnn imports self-contained models only");
        yield return new("bias-nan.onnx", Edit(m => m.Graph.Initializer[1].RawData = ByteString.CopyFrom([.. BitConverter.GetBytes(1f), .. BitConverter.GetBytes(float.NaN)])), R, "node 1 'c_node' (Conv) bias 'B' has the non-finite value NaN at element 1");
        yield return new("weight-infinite.onnx", Edit(m => m.Graph.Initializer[2].RawData = ByteString.CopyFrom([.. BitConverter.GetBytes(float.PositiveInfinity), .. new byte[92]])), R, "node 5 'g_node' (Gemm) weight 'G' has the non-finite value Infinity at element 0");
        yield return new("weight-beyond-float.onnx", Model(Typed(), m => m.Graph.Initializer[1].DoubleData[5] = 1e300), R, "node 2 'c_node' (Conv), layer 1 (conv2x2x3:p1-0-1-0): weight value 1E+300 (element 5) does not fit in single");

        // Attributes of the wrong type, unknown, repeated, or describing what SharpCnn cannot compute.
        yield return new("attribute-wrong-type.onnx", Edit(m => m.Graph.Node[2].Attribute[0] = new AttributeProto { Name = "kernel_shape", Type = AttributeProto.Types.AttributeType.Floats, Floats = { 2f, 2f } }), R,
            "node 3 'p_node' (MaxPool) attribute 'kernel_shape' is of type FLOATS, expected INTS");
        yield return new("attribute-unknown.onnx", Edit(m => m.Graph.Node[1].Attribute.Add(Float("alpha", 0.1f))), R, "node 2 'r_node' (Relu) has the attribute 'alpha'; this operator takes none");
        yield return new("attribute-twice.onnx", Edit(m => m.Graph.Node[2].Attribute.Add(Ints("strides", 1, 1))), R, "node 3 'p_node' (MaxPool) gives the attribute 'strides' twice");
        yield return new("kernel-shape-contradicts-weight.onnx", Edit(m => m.Graph.Node[0].Attribute.Add(Ints("kernel_shape", 5, 5))), R, "node 1 'c_node' (Conv) has kernel_shape [5, 5] but a 3x3 weight");
        yield return new("dilations.onnx", Edit(m => m.Graph.Node[0].Attribute.Add(Ints("dilations", 2, 2))), R, "node 1 'c_node' (Conv) has dilations [2, 2]; SharpCnn has no dilated windows");
        yield return new("strides-unequal.onnx", Edit(m => m.Graph.Node[2].Attribute[1] = Ints("strides", 2, 1)), R, "node 3 'p_node' (MaxPool) has strides [2, 1]");
        yield return new("group-does-not-divide.onnx", Edit(m => m.Graph.Node[0].Attribute.Add(Int("group", 2))), R, "node 1 'c_node' (Conv) has group 2 with 1 input channels and a weight [2, 1, 3, 3]");
        yield return new("maxpool-without-its-floor.onnx", Model(new OnnxTestModel(13, 1, 5, 5), m =>
        {
            m.Node("MaxPool", ["x"], "p", Ints("kernel_shape", 2, 2), Ints("strides", 2, 2), Ints("pads", 0, 0, 1, 1));
            m.Output("p");
        }), R, "node 1 'p_node' (MaxPool) has a last window of rows 4..5 that reaches past the input's 5 rows");

        // Small files claiming huge layers: refused before anything of that size is allocated.
        yield return new("maxpool-floor-over-a-claimed-4095x4095-input.onnx", Model(new OnnxTestModel(13, 1, 4095, 4095), m =>
        {
            m.Node("MaxPool", ["x"], "p", Ints("kernel_shape", 2, 2), Ints("strides", 2, 2), Ints("pads", 0, 0, 1, 1));
            m.Output("p");
        }), R, "node 1 'p_node' (MaxPool) has a last window of rows 4094..4095 that reaches past the input's 4095 rows");
        yield return new("grouped-conv-beyond-the-budget.onnx", Model(new OnnxTestModel(13, 500, 4, 4), m =>
        {
            m.Floats("W", [500, 1, 3, 3], Values(4500, 6));
            m.Node("Conv", ["x", "W"], "y", Int("group", 500));
            m.Output("y");
        }), R, "node 1 'y_node' (Conv) weight[500x500x3x3] (group 500 spread over all 500 input maps) needs 2250000 parameter values, but what the file backs (4500 weight values in its tensors, and up to 65536 filled-in zeros and repeats) holds only 70036 more");
        yield return new("grouped-conv-beyond-a-connection-table.onnx", Model(new OnnxTestModel(13, 600, 2, 2), m =>
        {
            m.Floats("W", [600, 1, 2, 2], Values(2400, 7));
            m.Node("Conv", ["x", "W"], "y", Int("group", 600));
            m.Output("y");
        }), R, "node 1 'y_node' (Conv) has group 600 over 600 -> 600 channels; SharpCnn writes groups as a connection table, and one this large (600x600) is beyond what a model file holds");

        // Batch norm and dropout in training mode, with statistics of the wrong size, missing, negative, or claimed huge.
        yield return new("batchnorm-training-mode.onnx", EditBatchNorm(m => m.Graph.Node[1].Attribute.Add(Int("training_mode", 1))), R,
            "node 2 'bn_node' (BatchNormalization) has training_mode 1: it would normalise by each batch's statistics; SharpCnn imports inference graphs");
        yield return new("batchnorm-running-statistics-outputs.onnx", EditBatchNorm(m => m.Graph.Node[1].Output.AddRange(["running_mean", "running_var"])), R,
            "node 2 'bn_node' (BatchNormalization) has 3 outputs; only training mode writes the running statistics as outputs");
        yield return new("batchnorm-saved-statistics-outputs-opset9.onnx", EditBatchNorm(m =>
        {
            m.Model.OpsetImport[0].Version = 9;
            m.Graph.Node[4].Input.RemoveAt(1); // opset 9's Dropout has no ratio input
            m.Graph.Node[1].Output.AddRange(["mean_out", "var_out", "saved_mean", "saved_var"]);
        }), R, "node 2 'bn_node' (BatchNormalization) has 5 outputs; only training mode writes the running and saved statistics as outputs");
        yield return new("batchnorm-per-value-opset7.onnx", EditBatchNorm(m =>
        {
            m.Model.OpsetImport[0].Version = 7;
            m.Graph.Node[1].Attribute.Add(Int("spatial", 0));
        }), R, "node 2 'bn_node' (BatchNormalization) has spatial 0: statistics per value rather than per channel");
        yield return new("batchnorm-scale-for-4-channels.onnx", EditBatchNorm(m =>
        {
            var scale = m.Graph.Initializer[1];
            scale.Dims[0] = 4;
            scale.RawData = ByteString.CopyFrom([.. scale.RawData.Span, .. BitConverter.GetBytes(1f)]);
        }), R, "node 2 'bn_node' (BatchNormalization) scale 'scale' has dimensions [4]; expected [3], one value per channel of its [N, 3, 4, 4] input");
        yield return new("batchnorm-features-mean-short.onnx", EditBatchNorm(m => m.Graph.Initializer[10].Dims[0] = 3), R,
            "node 8 'bn2_node' (BatchNormalization) input_mean 'mean2' has dimensions [3]; expected [4], one value per feature of its [N, 4] input");
        yield return new("batchnorm-variance-missing.onnx", EditBatchNorm(m => m.Graph.Initializer.RemoveAt(4)), R,
            "node 2 'bn_node' (BatchNormalization) reads 'var', which is not the graph input, an initializer or the output of an earlier node");
        yield return new("batchnorm-variance-negative.onnx", EditBatchNorm(m => m.Graph.Initializer[4].RawData = ByteString.CopyFrom([.. BitConverter.GetBytes(1f), .. BitConverter.GetBytes(-0.25f), .. BitConverter.GetBytes(1f)])), R,
            "node 2 'bn_node' (BatchNormalization) input_var 'var' has -0.25 for channel 1; a variance is not negative");
        yield return new("batchnorm-epsilon-zero.onnx", EditBatchNorm(m => m.Graph.Node[1].Attribute[0] = Float("epsilon", 0)), R,
            "node 2 'bn_node' (BatchNormalization) has epsilon 0; SharpCnn's batch norm needs a positive finite epsilon");
        yield return new("batchnorm-over-a-claimed-million-features.onnx", Model(new OnnxTestModel(13, 1_000_000), m =>
        {
            foreach (string name in new[] { "scale", "B", "mean", "var" }) m.Floats(name, [1_000_000], 1f);
            m.Node("BatchNormalization", ["x", "scale", "B", "mean", "var"], "y");
            m.Output("y");
        }), R, "node 1 'y_node' (BatchNormalization) batch-norm parameters[4x1000000] needs 4000000 parameter values");
        yield return new("dropout-training-mode.onnx", EditBatchNorm(m =>
        {
            m.Graph.Initializer.Add(new TensorProto { Name = "training", DataType = (int)DataType.Bool, RawData = ByteString.CopyFrom([1]) });
            m.Graph.Node[4].Input.Add("training");
        }), R, "node 5 'd_node' (Dropout) runs in training mode; SharpCnn imports inference graphs (training_mode false)");
        yield return new("dropout-ratio-1.onnx", EditBatchNorm(m => m.Graph.Initializer[5].RawData = ByteString.CopyFrom(BitConverter.GetBytes(1f))), R,
            "node 5 'd_node' (Dropout) has ratio 1; a dropout rate is in [0, 1)");

        // Outputs that are not the end of the chain, or declared otherwise.
        yield return new("output-ghost.onnx", Edit(m => m.Graph.Output[0].Name = "ghost"), R, "the graph output 'ghost' is not produced by any node; the chain of nodes ends at 'y'");
        yield return new("output-intermediate.onnx", Edit(m => m.Graph.Output[0].Name = "f"), R, "the graph output 'f' is an intermediate activation; the chain of nodes ends at 'y'");
        yield return new("output-two.onnx", Edit(m => m.Output("g")), R, "the graph has 2 outputs; a SharpCnn network has one");
        yield return new("output-declared-size-4.onnx", Edit(m => m.Graph.Output[0] = Value("y", (int)DataType.Float, 4)), R, "the graph output 'y' is declared with 4 values per sample, the nodes compute 3");
    }

    private static byte[] Edit(Action<OnnxTestModel> edit) => Model(Cnn(), edit);

    private static byte[] EditBatchNorm(Action<OnnxTestModel> edit) => Model(BatchNormCnn(), edit);

    private static byte[] Model(OnnxTestModel model, Action<OnnxTestModel> edit)
    {
        edit(model);
        return model.Bytes();
    }
}
