// OnnxImport on hostile or broken files: every case must be a FileFormatException naming
// the file (and the node and operator where there is one) and what is wrong, never another
// exception, and nothing may be allocated from a size the file merely claims.

using Google.Protobuf;
using SharpCnn.Formats;
using SharpCnn.Formats.Onnx;
using SharpCnn.Formats.Onnx.Proto;
using SharpCnn.Model;
using SharpCnn.Tensors;
using static SharpCnn.Tests.Formats.Onnx.OnnxTestModel;
using DataType = SharpCnn.Formats.Onnx.Proto.TensorProto.Types.DataType;

namespace SharpCnn.Tests.Formats.Onnx;

public sealed class OnnxHostileFileTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("sharpcnn-onnx-hostile-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private FileFormatException Reject(byte[] bytes, params string[] expectedInMessage)
    {
        string path = Path.Combine(dir, "hostile.onnx");
        File.WriteAllBytes(path, bytes);
        var error = Assert.Throws<FileFormatException>(() => OnnxImport.Load<float>(path));
        Assert.Equal(path, error.FilePath);
        Assert.StartsWith(path + ":", error.Message);
        foreach (string text in expectedInMessage)
            Assert.True(error.Message.Contains(text, StringComparison.Ordinal), $"\"{text}\" is not in the message: {error.Message}");
        return error;
    }

    private FileFormatException Reject(OnnxTestModel m, params string[] expectedInMessage) => Reject(m.Bytes(), expectedInMessage);

    /// <summary>A small valid model: conv, relu, maxpool, flatten, gemm, softmax on 1x6x6 (the hostile corpus's seed model).</summary>
    private static OnnxTestModel Valid() => Hostile.OnnxCorpus.Cnn();

    [Fact]
    public void ValidModelImports() => Assert.Equal("conv3x3x2:p0,relu,maxpool2,flatten,dense3", OnnxImport.Read<float>(Valid().Bytes(), "v.onnx").Network.Spec);

    [Fact]
    public void MissingFile() => Assert.Throws<FileNotFoundException>(() => OnnxImport.Load<float>(Path.Combine(dir, "nothing.onnx")));

    [Fact]
    public void EmptyFile() => Reject([], "no ir_version");

    [Fact]
    public void NotProtobuf() => Reject("this is not a model at all, just text\n"u8.ToArray(), "this is not an ONNX model");

    [Fact]
    public void BrokenProtobuf() => Reject([0x0a, 0xff, 0xff, 0xff, 0xff, 0x07, 1, 2, 3], "not a valid ONNX (protobuf) model");

    [Fact]
    public void ASharpCnnModelFileIsNotOnnx()
    {
        var net = ModelSpec.Parse("flatten,dense3").Build<float>(new Shape(1, 2, 2));
        string path = Path.Combine(dir, "m.scnn");
        ModelFile.Save(net, path);
        Reject(File.ReadAllBytes(path), "hostile.onnx");
    }

    [Fact]
    public void EveryTruncationIsRejected()
    {
        byte[] bytes = Valid().Bytes();
        for (int length = 0; length < bytes.Length; length++)
        {
            var error = Assert.Throws<FileFormatException>(() => OnnxImport.Read<float>(bytes[..length], "cut.onnx"));
            Assert.Equal("cut.onnx", error.FilePath);
        }
    }

    [Fact]
    public void RandomMutationsAreRejectedCleanlyOrImport()
    {
        // Flipped bytes, overwritten lengths, inserted and deleted runs: the importer either
        // builds a network or throws FileFormatException; any other exception is a bug.
        byte[] valid = Valid().Bytes();
        var rng = new Rng(2024);
        int imported = 0, rejected = 0;
        for (int trial = 0; trial < 3000; trial++)
        {
            var bytes = new List<byte>(valid);
            int edits = 1 + rng.NextInt(4);
            for (int e = 0; e < edits && bytes.Count > 0; e++)
            {
                int at = rng.NextInt(bytes.Count);
                switch (rng.NextInt(4))
                {
                    case 0: bytes[at] ^= (byte)(1 << rng.NextInt(8)); break;
                    case 1: bytes[at] = (byte)rng.NextInt(256); break;
                    case 2: bytes.InsertRange(at, [0xff, 0xff, 0xff, 0xff, 0x0f]); break; // a huge varint
                    default: bytes.RemoveRange(at, Math.Min(1 + rng.NextInt(8), bytes.Count - at)); break;
                }
            }
            try
            {
                OnnxImport.Read<float>([.. bytes], "mutant.onnx");
                imported++;
            }
            catch (FileFormatException e)
            {
                Assert.Equal("mutant.onnx", e.FilePath);
                rejected++;
            }
        }
        Assert.True(rejected > 1000, $"only {rejected} of 3000 mutants were rejected");
        Assert.True(imported + rejected == 3000);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    [InlineData(12)]
    public void IrVersionOutOfRange(long version)
    {
        var m = Valid();
        m.Model.IrVersion = version;
        Reject(m, $"IR version {version}");
    }

    [Fact]
    public void NoStandardOpset()
    {
        var m = Valid();
        m.Model.OpsetImport.Clear();
        m.Model.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.example", Version = 1 });
        Reject(m, "no standard operator set");
    }

    [Theory]
    [InlineData(6)]
    [InlineData(99)]
    public void OpsetOutOfRange(long opset)
    {
        var m = Valid();
        m.Model.OpsetImport[0].Version = opset;
        Reject(m, $"operator set {opset}");
    }

    [Fact]
    public void NoGraph()
    {
        var m = Valid();
        m.Model.Graph = null;
        Reject(m, "no graph");
    }

    [Fact]
    public void UnsupportedOperatorIsNamed()
    {
        var m = Valid();
        m.Graph.Node[1].OpType = "Elu";
        Reject(m, "node 2 'r_node' (Elu)", "not an operator SharpCnn can import", "Conv, MaxPool");
    }

    [Fact]
    public void CustomDomainIsRefused()
    {
        var m = Valid();
        m.Graph.Node[1].Domain = "com.microsoft";
        Reject(m, "(Relu)", "operator domain 'com.microsoft'");
    }

    [Fact]
    public void MissingInitializer()
    {
        var m = Valid();
        m.Graph.Initializer.RemoveAt(0); // W
        Reject(m, "node 1 'c_node' (Conv)", "reads 'W'", "lacks that initializer");
    }

    [Fact]
    public void CycleIsRefused()
    {
        // Relu reads the output of a node that comes after it (and that node reads Relu's output).
        var m = Valid();
        m.Graph.Node[1].Input[0] = "p";
        Reject(m, "node 2 'r_node' (Relu)", "reads 'p'", "out of order, has a cycle");
    }

    [Fact]
    public void OutOfOrderNodesAreRefused()
    {
        var m = Valid();
        var relu = m.Graph.Node[1];
        m.Graph.Node.RemoveAt(1);
        m.Graph.Node.Add(relu);
        Reject(m, "(MaxPool)", "reads 'r'");
    }

    [Fact]
    public void BranchIsRefused()
    {
        var m = Valid();
        m.Graph.Node[2].Input[0] = "c"; // MaxPool reads the Conv output that Relu already consumed
        Reject(m, "node 3 'p_node' (MaxPool)", "earlier activation", "branches");
    }

    [Fact]
    public void TensorWrittenTwice()
    {
        var m = Valid();
        m.Graph.Node[1].Output[0] = "c";
        Reject(m, "(Relu)", "writes 'c', which is already defined");
    }

    [Fact]
    public void TwoGraphInputs()
    {
        var m = Valid();
        m.Graph.Input.Add(Value("z", (int)DataType.Float, 3));
        Reject(m, "2 inputs", "'x', 'z'");
    }

    [Fact]
    public void IntegerInput()
    {
        var m = Valid();
        m.Graph.Input[0].Type.TensorType.ElemType = (int)DataType.Int64;
        Reject(m, "graph input 'x' holds int64 values");
    }

    [Fact]
    public void UnknownInputDimension()
    {
        var m = Valid();
        m.Graph.Input[0].Type.TensorType.Shape.Dim[2].DimParam = "height";
        Reject(m, "leaves dimension 2 unknown ('height')");
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(-5L)]
    [InlineData(2_000_000L)]
    [InlineData(long.MaxValue)]
    public void HugeOrEmptyInputDimension(long size)
    {
        var m = Valid();
        m.Graph.Input[0].Type.TensorType.Shape.Dim[3].DimValue = size;
        Reject(m, $"dimension 3 = {size}");
    }

    [Fact]
    public void HugeSampleIsRefusedBeforeAllocating()
    {
        var m = new OnnxTestModel(13, 1000, 1000, 1000);
        m.Node("Relu", ["x"], "y");
        m.Output("y");
        Reject(m, "1000000000 values per sample");
    }

    [Fact]
    public void WeightClaimingHugeDimensionsWithLittleData()
    {
        var m = Valid();
        var w = m.Graph.Initializer[0];
        w.Dims.Clear();
        w.Dims.AddRange([100_000, 1, 3, 3]); // 900,000 floats claimed, 18 present
        Reject(m, "(Conv)", "weight 'W' has 72 bytes of raw data", "need 3600000");
    }

    [Fact]
    public void WeightWithDimensionsBeyondAnyArray()
    {
        var m = Valid();
        var w = m.Graph.Initializer[0];
        w.Dims.Clear();
        w.Dims.AddRange([1L << 40, 1, 3, 3]);
        Reject(m, "(Conv)", "weight 'W' has dimensions [1099511627776, 1, 3, 3]", "each must be in 1..1000000");
    }

    [Fact]
    public void GemmWeightOfTheWrongSize()
    {
        var m = Valid();
        var g = m.Graph.Initializer[2];
        g.Dims[1] = 9;
        g.RawData = ByteString.CopyFrom(new byte[3 * 9 * 4]);
        Reject(m, "(Gemm)", "takes 9 features, its input has 8");
    }

    [Fact]
    public void WeightOfIntegers()
    {
        var m = Valid();
        m.Graph.Initializer[0].DataType = (int)DataType.Int32;
        Reject(m, "(Conv)", "weight 'W' holds int32 values");
    }

    [Fact]
    public void WeightOfUnknownType()
    {
        var m = Valid();
        m.Graph.Initializer[0].DataType = 77;
        Reject(m, "(Conv)", "unknown type 77");
    }

    [Fact]
    public void FloatDataCountMismatch()
    {
        var m = Valid();
        var b = m.Graph.Initializer[1];
        b.ClearRawData();
        b.FloatData.Add(1f); // 1 value for dims [2]
        Reject(m, "(Conv)", "bias 'B' has 1 float_data values", "need 2");
    }

    [Fact]
    public void NonFiniteWeight()
    {
        var m = Valid();
        var b = m.Graph.Initializer[1];
        b.RawData = ByteString.CopyFrom(BitConverter.GetBytes(1f).Concat(BitConverter.GetBytes(float.NaN)).ToArray());
        Reject(m, "(Conv)", "non-finite value NaN at element 1");
    }

    [Fact]
    public void ExternalData()
    {
        var m = Valid();
        var w = m.Graph.Initializer[0];
        w.ClearRawData();
        w.DataLocation = TensorProto.Types.DataLocation.External;
        w.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "/etc/passwd" });
        Reject(m, "(Conv)", "external file");
    }

    [Fact]
    public void AttributeOfTheWrongType()
    {
        var m = Valid();
        m.Graph.Node[2].Attribute[0] = new AttributeProto { Name = "kernel_shape", Type = AttributeProto.Types.AttributeType.Floats, Floats = { 2f, 2f } };
        Reject(m, "(MaxPool)", "attribute 'kernel_shape' is of type FLOATS, expected INTS");
    }

    [Fact]
    public void UnknownAttribute()
    {
        var m = Valid();
        m.Graph.Node[1].Attribute.Add(Float("alpha", 0.1f));
        Reject(m, "(Relu)", "attribute 'alpha'", "takes none");
    }

    [Fact]
    public void RepeatedAttribute()
    {
        var m = Valid();
        m.Graph.Node[2].Attribute.Add(Ints("strides", 1, 1));
        Reject(m, "(MaxPool)", "gives the attribute 'strides' twice");
    }

    [Fact]
    public void KernelShapeContradictingTheWeight()
    {
        var m = Valid();
        m.Graph.Node[0].Attribute.Add(Ints("kernel_shape", 5, 5));
        Reject(m, "(Conv)", "kernel_shape [5, 5] but a 3x3 weight");
    }

    [Fact]
    public void KernelLargerThanItsInput()
    {
        var m = new OnnxTestModel(13, 1, 2, 2);
        m.Floats("W", [1, 1, 3, 3], Random(9, 1));
        m.Node("Conv", ["x", "W"], "y");
        m.Output("y");
        Reject(m, "(Conv)", "3x3 kernel larger than its padded 2x2 input");
    }

    [Fact]
    public void GroupThatDoesNotDivide()
    {
        var m = Valid();
        m.Graph.Node[0].Attribute.Add(Int("group", 2));
        Reject(m, "(Conv)", "group 2 with 1 input channels");
    }

    [Fact]
    public void WeightFromAnActivation()
    {
        var m = Valid();
        m.Graph.Node[4].Input[1] = "f";
        Reject(m, "(Gemm)", "reads the activation 'f' as input 2, where a constant belongs");
    }

    [Fact]
    public void ComputationOnConstantsOnly()
    {
        var m = Valid();
        m.Graph.Node.Insert(0, new NodeProto { OpType = "Mul", Name = "fold", Input = { "W", "W" }, Output = { "W2" } });
        Reject(m, "node 1 'fold' (Mul)", "computes on constants only");
    }

    [Fact]
    public void SoftmaxInTheMiddle()
    {
        var m = Valid();
        m.Graph.Node.Insert(4, new NodeProto { OpType = "Softmax", Name = "early", Input = { "f" }, Output = { "s" } });
        m.Graph.Node[5].Input[0] = "s";
        Reject(m, "(Gemm)", "reads the output of the Softmax");
    }

    [Fact]
    public void OutputNotAtTheEndOfTheChain()
    {
        var m = Valid();
        m.Graph.Output[0].Name = "f";
        Reject(m, "graph output 'f' is an intermediate activation");
    }

    [Fact]
    public void OutputNamingNothing()
    {
        var m = Valid();
        m.Graph.Output[0].Name = "ghost";
        Reject(m, "graph output 'ghost' is not produced by any node");
    }

    [Fact]
    public void OutputDeclaredWithAnotherSize()
    {
        var m = Valid();
        m.Graph.Output[0] = Value("y", (int)DataType.Float, 4);
        Reject(m, "declared with 4 values per sample, the nodes compute 3");
    }

    [Fact]
    public void OutputDeclaredWithHugeDimensions()
    {
        var m = Valid();
        m.Graph.Output[0] = Value("y", (int)DataType.Float, 1 << 24, 1 << 24, 1 << 24, 1 << 24);
        Reject(m, "declared with more than 16777216 values per sample, the nodes compute 3");
    }

    [Fact]
    public void NodeWithoutOutput()
    {
        var m = Valid();
        m.Graph.Node[1].Output.Clear();
        Reject(m, "node 2 'r_node' (Relu) has no output");
    }

    [Fact]
    public void DuplicateInitializers()
    {
        var m = Valid();
        m.Floats("W", [1], 1f);
        Reject(m, "two initializers are named 'W'");
    }

    [Fact]
    public void DynamicReshapeFromShapeIsRefusedNamingTheNode()
    {
        var m = new OnnxTestModel(13, 2, 3, 3);
        m.Node("Shape", ["x"], "s");
        m.Output("s");
        Reject(m, "node 1 's_node' (Shape)", "not an operator SharpCnn can import");
    }

    [Fact]
    public void DoubleWeightBeyondFloatRange()
    {
        var m = new OnnxTestModel(13, 2);
        m.Doubles("W", [1, 2], 1e300, 1);
        m.Node("Gemm", ["x", "W"], "y", Int("transB", 1));
        m.Output("y");
        var error = Assert.Throws<FileFormatException>(() => OnnxImport.Read<float>(m.Bytes(), "big.onnx"));
        Assert.Contains("1E+300 (element 0) does not fit in single", error.Message);
        Assert.Equal(1e300, OnnxImport.Read<double>(m.Bytes(), "big.onnx").Network.Parameters.First().Value[0]);
    }

    [Fact]
    public void GroupedConvolutionTooLargeForAConnectionTable()
    {
        // Depthwise 2x2 with stride 1 (not a subsampling): it would need a 600 x 600 connection table.
        var m = new OnnxTestModel(13, 600, 2, 2);
        m.Floats("W", [600, 1, 2, 2], Random(2400, 3));
        m.Node("Conv", ["x", "W"], "y", Int("group", 600));
        m.Output("y");
        Reject(m, "(Conv)", "group 600", "beyond what a model file holds");
    }

    [Fact]
    public void ASmallFileClaimingAHugeGroupedLayerFailsBeforeAllocatingIt()
    {
        // 500 depthwise 3x3 kernels (4,500 values, 18 KB) that group 500 spreads over all 500 input maps:
        // a connection-table convolution of 2,250,000 weights, far more than the file backs. The
        // parameter budget stops it before the importer or the network allocates the layer.
        var m = new OnnxTestModel(13, 500, 4, 4);
        m.Floats("W", [500, 1, 3, 3], Random(4500, 7));
        m.Node("Conv", ["x", "W"], "y", Int("group", 500));
        m.Output("y");
        byte[] bytes = m.Bytes();
        Record.Exception(() => OnnxImport.Read<float>(bytes, "warm-up.onnx"));
        long before = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<FileFormatException>(() => OnnxImport.Read<float>(bytes, "grouped.onnx"));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Contains("node 1 'y_node' (Conv) weight[500x500x3x3] (group 500 spread over all 500 input maps) needs 2250000 parameter values", error.Message);
        Assert.Contains("4500 weight values in its tensors", error.Message);
        Assert.True(allocated < 8L * bytes.Length + (256 << 10), $"{allocated} bytes allocated to reject a file of {bytes.Length} bytes");

        // The budget ends with the import: a network built afterwards has none.
        Assert.Equal(1_000_000, ModelSpec.Parse("dense1000000").Build<float>(new Shape(1, 1, 1)).OutputShape.Size);
    }

    [Fact]
    public void AGroupedLayerWithinWhatTheFileBacksImports()
    {
        // The same spreading on a scale the file backs: 8 maps in 2 groups double the 288 weights it carries.
        var m = new OnnxTestModel(13, 8, 4, 4);
        m.Floats("W", [8, 4, 3, 3], Random(288, 8));
        m.Node("Conv", ["x", "W"], "y", Int("group", 2));
        m.Output("y");
        var network = OnnxImport.Read<float>(m.Bytes(), "grouped.onnx").Network;
        Assert.Equal(8 * 8 * 9 + 8, network.Parameters.Sum(p => p.Value.Length));
    }

    [Fact]
    public void DepthwiseConstantKernelIsASubsamplingWhateverItsSize()
    {
        var m = new OnnxTestModel(13, 600, 2, 2);
        m.Floats("W", [600, 1, 2, 2], Enumerable.Range(0, 2400).Select(i => (float)(i / 4)).ToArray());
        m.Node("Conv", ["x", "W"], "y", Int("group", 600), Ints("strides", 2, 2));
        m.Output("y");
        Assert.Equal("subsample2", OnnxImport.Read<float>(m.Bytes(), "s.onnx").Network.Spec);
    }

    [Fact]
    public void PaddedMaxPoolOverAHugeClaimedInputDoesNotAllocateItsFloor()
    {
        // Regression: a MaxPool whose windows reach into its own padding made the importer build the
        // whole floor a following Max must match (one float per output window) before reading further,
        // so a 150-byte file claiming a 1x4095x4095 input allocated 16 MB before being rejected.
        var m = new OnnxTestModel(13, 1, 4095, 4095);
        m.Node("MaxPool", ["x"], "p", Ints("kernel_shape", 2, 2), Ints("strides", 2, 2), Ints("pads", 0, 0, 1, 1));
        m.Output("p");
        byte[] bytes = m.Bytes();
        Record.Exception(() => OnnxImport.Read<float>(bytes, "warm-up.onnx"));
        long before = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<FileFormatException>(() => OnnxImport.Read<float>(bytes, "floor.onnx"));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Contains("(MaxPool)", error.Message);
        Assert.Contains("unless a Max with 0 on those windows follows", error.Message);
        Assert.True(allocated < 256 << 10, $"{allocated} bytes allocated to reject a file of {bytes.Length} bytes");
    }

    [Fact]
    public void DeepRecursionInUnknownFieldsIsRejected()
    {
        // Field 99 as a group start, nested 200 deep: more nesting than the parser allows.
        var bytes = new List<byte>();
        for (int i = 0; i < 200; i++) bytes.AddRange([0x9b, 0x06]); // tag (99 << 3) | 3
        Reject([.. bytes], "not a valid ONNX (protobuf) model");
    }
}
