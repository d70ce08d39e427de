// The model-file part of the hostile-input corpus: small valid model files and a checkpoint
// (made without any training arithmetic, so their bytes are the same on every machine), then
// files truncated at every header boundary, with wrong magic, version, lengths or checksum, and
// files with a valid checksum whose header lies: a bad or oversized spec, parameter lists that
// do not match, huge inputs, non-finite weights, broken training sections.

using System.Buffers.Binary;
using System.Text.Json.Nodes;
using SharpCnn.Formats;
using SharpCnn.Model;
using SharpCnn.Optim;
using SharpCnn.Tensors;
using SharpCnn.Training;

namespace SharpCnn.Tests.Hostile;

internal sealed class ModelCorpus : ICorpusFormat
{
    public string Folder => "model";

    /// <summary>A float32 model: input 1x6x6, conv3x3x2, relu, maxpool2, flatten, dense3 (47 weights).</summary>
    public static byte[] SmallFloat() => Save(Network<float>("conv3x3x2,relu,maxpool2,flatten,dense3", new Shape(1, 6, 6), "ce"));

    /// <summary>A float64 model with a connection table and trainable subsampling.</summary>
    public static byte[] SmallDouble() => Save(Network<double>("conv3x3x3:same:table=10.01.11,tanh,subsample2:pad,tanh,flatten,dense2,minusmax", new Shape(2, 5, 5), "softmax-mse"));

    /// <summary>A checkpoint of <see cref="SmallFloat"/> mid-epoch with Adam state and a stop-threshold snapshot.</summary>
    public static byte[] SmallCheckpoint()
    {
        var network = Network<float>("conv3x3x2,relu,maxpool2,flatten,dense3", new Shape(1, 6, 6), "ce");
        var options = new TrainingOptions { Epochs = 2, BatchSize = 2, Optimizer = "adam", LearningRate = 0.01, StopEpsilon = 1e-9, CheckpointEvery = 1, CheckpointPath = "unused" };
        var optimizer = Optimizers.Create<float>("adam", network.Parameters, options.LearningRate);
        for (int i = 0; i < optimizer.State.Count; i++)
            for (int j = 0; j < optimizer.State[i].Length; j++) optimizer.State[i][j] = (i + 1) * 0.001f * (j % 5);
        optimizer.RestoreStepCount(3);
        var rng = new Rng(7);
        var run = new TrainingRun<float>
        {
            Order = [3, 0, 4, 1, 2],
            Rng = rng,
            Snapshot = network.Parameters.Select(p => p.Value.Select(v => v * 0.5f).ToArray()).ToArray(),
            Epoch = 1,
            Position = 2,
            Shuffled = true,
            EpochSteps = 1,
            LossSum = 2.5,
            Correct = 1,
            Seen = 2,
        };
        return WithTemporaryFile(path => CheckpointFile.Save(path, network, optimizer, options, run, 0x0123456789abcdefUL));
    }

    public IEnumerable<CorpusFile> Generate()
    {
        const string M = "model", D = "model-double", C = "checkpoint";
        byte[] f = SmallFloat(), d = SmallDouble(), c = SmallCheckpoint();
        int headerLength = BinaryPrimitives.ReadInt32LittleEndian(f.AsSpan(12));
        int payloadStart = 16 + headerLength;

        yield return new("good-float32.scnn", f, M, CorpusFile.Ok);
        yield return new("good-float64.scnn", d, D, CorpusFile.Ok);
        yield return new("good-float64-as-float32.scnn", d, M, CorpusFile.Ok);
        yield return new("good-checkpoint.scnn", c, C, CorpusFile.Ok);
        yield return new("good-checkpoint-as-model.scnn", c, M, CorpusFile.Ok);

        // Empty, truncated at every boundary of the fixed header, inside the JSON, the weights and the checksum.
        yield return new("empty.scnn", [], M, "expected at least 24 bytes (magic, version, header length, checksum), the file has 0");
        yield return new("cut-in-magic.scnn", f[..5], M, "expected at least 24 bytes");
        yield return new("cut-after-magic.scnn", f[..8], M, "expected at least 24 bytes");
        yield return new("cut-after-version.scnn", f[..12], M, "expected at least 24 bytes");
        yield return new("cut-after-header-length.scnn", f[..16], M, "expected at least 24 bytes");
        yield return new("cut-in-header.scnn", f[..(16 + headerLength / 2)], M, $"expected a header length of 1 to {16 + headerLength / 2 - 24} bytes");
        yield return new("cut-after-header.scnn", f[..payloadStart], M, "expected a header length of 1 to");
        yield return new("cut-in-weights.scnn", f[..(payloadStart + 50)], M, "expected the checksum");
        yield return new("cut-in-checksum.scnn", f[..^3], M, "expected the checksum");

        // Not a model file, or not one this reader knows.
        yield return new("magic-wrong.scnn", With(f, 0, "SCNNMODX"u8.ToArray()), M, "expected the magic \"SCNNMODL\": this is not a SharpCnn model file");
        yield return new("magic-png.scnn", [0x89, .. "PNG\r\n\x1a\n"u8, .. new byte[40]], M, "expected the magic \"SCNNMODL\"");
        yield return new("version-0.scnn", Int32At(f, 8, 0), M, "expected format version 1 or 2, found 0");
        yield return new("version-3.scnn", Int32At(f, 8, 3), M, "expected format version 1 or 2, found 3");
        yield return new("header-length-zero.scnn", Int32At(f, 12, 0), M, "expected a header length of 1 to");
        yield return new("header-length-negative.scnn", Int32At(f, 12, -16), M, "found -16");
        yield return new("header-length-huge.scnn", Int32At(f, 12, int.MaxValue), M, "found 2147483647");
        yield return new("header-length-past-end.scnn", Int32At(f, 12, headerLength + 300), M, $"found {headerLength + 300}");
        yield return new("checksum-flipped.scnn", With(f, f.Length - 1, [(byte)(f[^1] ^ 0x80)]), M, "expected the checksum");
        yield return new("weight-flipped.scnn", With(f, payloadStart + 7, [(byte)(f[payloadStart + 7] ^ 0x01)]), M, "the file is damaged or truncated");
        yield return new("trailing-garbage.scnn", [.. f, 0xde, 0xad, 0xbe, 0xef], M, "expected the checksum");

        // A valid checksum around a header that lies.
        yield return new("header-not-json.scnn", ModelBytes.Join(1, "this is { not json", Payload(f)), M, "expected a JSON header");
        yield return new("header-json-null.scnn", ModelBytes.Join(1, "null", Payload(f)), M, "expected a JSON object as the header, found null");
        yield return new("header-json-array.scnn", ModelBytes.Join(1, "[1,2,3]", Payload(f)), M, "expected a JSON header");
        yield return new("header-deeply-nested.scnn", ModelBytes.Join(1, new string('[', 5000) + new string(']', 5000), Payload(f)), M, "expected a JSON header");
        yield return new("header-input-is-text.scnn", Edit(f, h => h["input"] = "1x6x6"), M, "expected a JSON header");
        yield return new("spec-missing.scnn", Edit(f, h => h.Remove("spec")), M, "expected a JSON header: JSON deserialization for type 'SharpCnn.Formats.ModelHeader' was missing required properties including: 'spec'");
        yield return new("spec-empty.scnn", Edit(f, h => h["spec"] = " "), M, "expected a model spec in the header (\"spec\"), found none");
        yield return new("spec-unknown-layer.scnn", Edit(f, h => h["spec"] = "conv3x3x2,relu,maxpool2,flatten,frobnicate3"), M, "layer 5 'frobnicate3': unknown layer 'frobnicate3'");
        yield return new("spec-kernel-too-large.scnn", Edit(f, h => h["spec"] = "conv9x9x2,relu,maxpool2,flatten,dense3"), M, "layer 1 'conv9x9x2': kernel 9x9 is larger than its input 6x6");
        yield return new("spec-needs-8-million-weights.scnn", Edit(f, h => h["spec"] = "conv3x3x2,relu,maxpool2,flatten,dense1000000"), M, "layer 5 'dense1000000': weight[1000000x8] needs 8000000 parameter values, but the file (which lists 47 values) holds only 27 more");
        yield return new("spec-output-larger-than-an-array.scnn", Edit(f, h => { h["spec"] = "conv1000x1000x3000:full,flatten,dense3"; }), M, "layer 1 'conv1000x1000x3000:full': output 3000x1005x1005 has more values than an array holds");
        yield return new("spec-weight-larger-than-an-array.scnn", Edit(f, h => { h["spec"] = "conv1000x1000x3000:full:s1000,flatten,dense3"; }), M, "weight[3000x1x1000x1000] has 3000000000 elements, more than an array holds");
        yield return new("spec-huge-table-conv.scnn", Edit(f, h => { h["spec"] = "conv1000x1000x2:full:table=1.1,flatten,dense3"; }), M, "needs 2000000 parameter values, but the file (which lists 47 values) holds only 47 more");
        yield return new("loss-unknown.scnn", Edit(f, h => h["loss"] = "hinge"), M, "unknown loss 'hinge'");
        yield return new("input-huge.scnn", Edit(f, h => h["input"] = new JsonArray(1, 100000, 100000)), M, "expected an input of at most 16777216 values per sample, found 1x100000x100000");
        yield return new("input-negative.scnn", Edit(f, h => h["input"] = new JsonArray(1, -6, 6)), M, "expected the input shape as three positive sizes [C, H, W], found [1, -6, 6]");
        yield return new("input-two-sizes.scnn", Edit(f, h => h["input"] = new JsonArray(6, 6)), M, "expected the input shape as three positive sizes [C, H, W], found [6, 6]");
        yield return new("input-wrong-for-weights.scnn", Edit(f, h => h["input"] = new JsonArray(1, 8, 8)), M, "layer 5 'dense3': weight[3x18] needs 54 parameter values, but the file (which lists 47 values) holds only 27 more");
        yield return new("precision-float16.scnn", Edit(f, h => h["precision"] = "float16"), M, "expected precision float32 or float64, found 'float16'");
        yield return new("precision-says-float64.scnn", Edit(f, h => h["precision"] = "float64"), M, "bytes of weights after the header, found");
        yield return new("parameters-missing.scnn", Edit(f, h => h.Remove("parameters")), M, "missing required properties including: 'parameters'");
        yield return new("parameters-null.scnn", Edit(f, h => h["parameters"] = null), M, "expected a parameter list in the header (\"parameters\"), found none");
        yield return new("parameter-one-dropped.scnn", DropLastParameter(f), M, "layer 5 'dense3': bias[3] needs 3 parameter values, but the file (which lists 44 values) holds only 0 more");
        yield return new("parameter-length-lies.scnn", Edit(f, h => h["parameters"]![0]!["length"] = 19), M, "expected 192 bytes of weights after the header, found 188");
        yield return new("parameter-length-zero.scnn", Edit(f, h => h["parameters"]![1]!["length"] = 0), M, "expected parameter 2 to have a layer position, a name and a positive length, found layer 1 'bias' of 0 values");
        yield return new("parameters-swapped.scnn", SwapFirstParameters(f), M, "expected parameter 1 to be layer 1 weight[18] (what the spec needs), the header lists layer 1 bias[2]");
        yield return new("parameter-wrong-layer.scnn", Edit(f, h => h["parameters"]![2]!["layer"] = 4), M, "expected parameter 3 to be layer 5 weight[24] (what the spec needs), the header lists layer 4 weight[24]");
        yield return new("weights-missing.scnn", ModelBytes.Join(1, Header(f), []), M, "expected 188 bytes of weights after the header, found 0");
        yield return new("weights-extra.scnn", ModelBytes.Join(1, Header(f), [.. Payload(f), 1, 2, 3, 4]), M, "expected 188 bytes of weights after the header, found 192");
        yield return new("weight-nan.scnn", Weight(f, 5, float.NaN), M, "expected finite weights, found NaN in layer 1 'conv3x3x2' weight[5]");
        yield return new("weight-infinite.scnn", Weight(f, 40, float.NegativeInfinity), M, "expected finite weights, found -Infinity in layer 5 'dense3' weight[20]");
        yield return new("float64-beyond-float32.scnn", DoubleWeight(d, 3, 1e300), M, "expected finite weights, found 1E+300 in layer 1");
        yield return new("metadata-value-null.scnn", Edit(f, h => h["metadata"] = new JsonObject { ["note"] = null }), M, "expected metadata values to be strings, found null");
        yield return new("version-1-with-training.scnn", VersionOf(c, 1), M, "expected no training section in a version 1 model file (a checkpoint is version 2), found one");
        yield return new("version-2-without-training.scnn", VersionOf(f, 2), M, "expected the training section of a version 2 file (a checkpoint), found none");

        // Checkpoints whose training section lies.
        yield return new("checkpoint-is-plain-model.scnn", f, C, "expected a checkpoint (a model file of format version 2, with a training section), found a plain model file of version 1");
        yield return new("checkpoint-epochs-zero.scnn", Edit(c, h => h["training"]!["options"]!["epochs"] = 0), C, "expected usable training options, found: epochs must be at least 1, not 0");
        yield return new("checkpoint-optimizer-mismatch.scnn", Edit(c, h => h["training"]!["optimizer"] = "sgd"), C, "expected the optimiser 'adam' of the options, found 'sgd'");
        yield return new("checkpoint-rng-zero.scnn", Edit(c, h => h["training"]!["rng"] = new JsonArray(0, 0, 0, 0)), C, "expected the generator state as four 64-bit words, not all zero");
        yield return new("checkpoint-position-past-end.scnn", Edit(c, h => { h["training"]!["position"] = 9; h["training"]!["seen"] = 9; }), C, "expected a position from 0 to 5");
        yield return new("checkpoint-counters-disagree.scnn", Edit(c, h => h["training"]!["correct"] = 5), C, "expected epoch counters with correct <= seen = position");
        yield return new("checkpoint-loss-sum-not-a-number.scnn", Edit(c, h => h["training"]!["loss_sum"] = "NaN"), C, "expected a JSON header");
        yield return new("checkpoint-array-renamed.scnn", Edit(c, h => h["training"]!["arrays"]![0]!["name"] = "momentum.0"), C, "expected training array 1 to be optimizer.0 float32[18], found momentum.0 float32[18]");
        yield return new("checkpoint-array-type-unknown.scnn", Edit(c, h => h["training"]!["arrays"]![8]!["type"] = "uint8"), C, "expected training array 9 to have a name, a type (float32, float64, int32) and a length, found 'order' uint8[5]");
        yield return new("checkpoint-order-repeats.scnn", OrderOf(c, [3, 0, 4, 0, 2]), C, "expected the sample order to be a permutation of 0..4, found 0 at 3 a second time");
        yield return new("checkpoint-order-out-of-range.scnn", OrderOf(c, [3, 0, 4, 1, 5]), C, "expected the sample order to be a permutation of 0..4, found 5 at 4");
        yield return new("checkpoint-state-nan.scnn", StateValue(c, 0, 1, float.NaN), C, "expected finite values in optimizer.0, found NaN at 1");
    }

    internal static Network<T> Network<T>(string spec, Shape input, string loss) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var network = ModelSpec.Parse(spec).Build<T>(input, loss);
        Initializer.Apply(network.Layers, InitScheme.Uniform, new Rng(11)); // uniform: exact arithmetic, the same bytes everywhere
        return network;
    }

    private static byte[] Save<T>(Network<T> network) where T : unmanaged, IFloatingPointIeee754<T> =>
        WithTemporaryFile(path => ModelFile.Save(network, path, new Dictionary<string, string> { ["note"] = "hostile-input corpus seed" }));

    private static byte[] WithTemporaryFile(Action<string> write)
    {
        string dir = Directory.CreateTempSubdirectory("sharpcnn-corpus-").FullName;
        try
        {
            string path = Path.Combine(dir, "file.scnn");
            write(path);
            return File.ReadAllBytes(path);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static byte[] Payload(byte[] file) => ModelBytes.Split(file).Payload;

    private static JsonObject Header(byte[] file) => ModelBytes.Split(file).Header;

    private static byte[] Edit(byte[] file, Action<JsonObject> edit) => ModelBytes.EditHeader(file, edit);

    private static byte[] VersionOf(byte[] file, int version)
    {
        var (_, header, payload) = ModelBytes.Split(file);
        return ModelBytes.Join(version, header, payload);
    }

    private static byte[] DropLastParameter(byte[] file)
    {
        var (version, header, payload) = ModelBytes.Split(file);
        var list = header["parameters"]!.AsArray();
        int dropped = (int)list[^1]!["length"]!;
        list.RemoveAt(list.Count - 1);
        return ModelBytes.Join(version, header, payload[..^(dropped * 4)]);
    }

    private static byte[] SwapFirstParameters(byte[] file)
    {
        var (version, header, payload) = ModelBytes.Split(file);
        var list = header["parameters"]!.AsArray();
        var first = list[0]!.DeepClone();
        list[0] = list[1]!.DeepClone();
        list[1] = first;
        return ModelBytes.Join(version, header, payload);
    }

    private static byte[] Weight(byte[] file, int index, float value)
    {
        var (version, header, payload) = ModelBytes.Split(file);
        BinaryPrimitives.WriteSingleLittleEndian(payload.AsSpan(index * 4), value);
        return ModelBytes.Join(version, header, payload);
    }

    private static byte[] DoubleWeight(byte[] file, int index, double value)
    {
        var (version, header, payload) = ModelBytes.Split(file);
        BinaryPrimitives.WriteDoubleLittleEndian(payload.AsSpan(index * 8), value);
        return ModelBytes.Join(version, header, payload);
    }

    /// <summary>Byte offset in the payload of training array <paramref name="index"/>.</summary>
    private static int ArrayOffset(JsonObject header, int index)
    {
        int offset = header["parameters"]!.AsArray().Sum(p => (int)p!["length"]! * (header["precision"]!.GetValue<string>() == "float64" ? 8 : 4));
        var arrays = header["training"]!["arrays"]!.AsArray();
        for (int i = 0; i < index; i++) offset += (int)arrays[i]!["length"]! * StateArrayEntry.SizeOf(arrays[i]!["type"]!.GetValue<string>());
        return offset;
    }

    private static byte[] OrderOf(byte[] file, int[] order)
    {
        var (version, header, payload) = ModelBytes.Split(file);
        var arrays = header["training"]!["arrays"]!.AsArray();
        int index = arrays.Select((a, i) => (a, i)).First(x => x.a!["name"]!.GetValue<string>() == "order").i;
        int at = ArrayOffset(header, index);
        for (int i = 0; i < order.Length; i++) BinaryPrimitives.WriteInt32LittleEndian(payload.AsSpan(at + 4 * i), order[i]);
        return ModelBytes.Join(version, header, payload);
    }

    private static byte[] StateValue(byte[] file, int array, int index, float value)
    {
        var (version, header, payload) = ModelBytes.Split(file);
        BinaryPrimitives.WriteSingleLittleEndian(payload.AsSpan(ArrayOffset(header, array) + 4 * index), value);
        return ModelBytes.Join(version, header, payload);
    }

    private static byte[] With(byte[] bytes, int at, byte[] values)
    {
        byte[] copy = (byte[])bytes.Clone();
        values.CopyTo(copy, at);
        return copy;
    }

    private static byte[] Int32At(byte[] bytes, int at, int value)
    {
        byte[] copy = (byte[])bytes.Clone();
        BinaryPrimitives.WriteInt32LittleEndian(copy.AsSpan(at), value);
        return copy;
    }
}
