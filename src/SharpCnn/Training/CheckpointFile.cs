using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using SharpCnn.Formats;
using SharpCnn.Model;
using SharpCnn.Optim;
using SharpCnn.Tensors;

namespace SharpCnn.Training;

/// <summary>
/// The training section of a checkpoint: everything besides the weights that a resumed run
/// needs to continue bit for bit. The arrays it lists follow the weights in the file.
/// </summary>
public sealed record TrainingSection
{
    /// <summary>The options the run was started with (without the checkpoint path and progress interval).</summary>
    [JsonPropertyName("options")] public required TrainingOptions Options { get; init; }

    /// <summary>The optimiser's name.</summary>
    [JsonPropertyName("optimizer")] public required string Optimizer { get; init; }

    /// <summary>The optimiser's learning rate when the checkpoint was written.</summary>
    [JsonPropertyName("learning_rate")] public double LearningRate { get; init; }

    /// <summary>Steps taken in all (the optimiser's step count).</summary>
    [JsonPropertyName("steps")] public long Steps { get; init; }

    /// <summary>The shuffling generator's state (four xoshiro256** words).</summary>
    [JsonPropertyName("rng")] public required ulong[] Rng { get; init; }

    /// <summary>1-based epoch in progress.</summary>
    [JsonPropertyName("epoch")] public int Epoch { get; init; }

    /// <summary>Next position in the epoch's sample order.</summary>
    [JsonPropertyName("position")] public int Position { get; init; }

    /// <summary>Whether the epoch's order is already drawn.</summary>
    [JsonPropertyName("shuffled")] public bool Shuffled { get; init; }

    /// <summary>Steps taken in the epoch.</summary>
    [JsonPropertyName("epoch_steps")] public int EpochSteps { get; init; }

    /// <summary>Sum of the epoch's per-sample losses so far.</summary>
    [JsonPropertyName("loss_sum")] public double LossSum { get; init; }

    /// <summary>Samples of the epoch classified right so far.</summary>
    [JsonPropertyName("correct")] public int Correct { get; init; }

    /// <summary>Samples of the epoch trained on so far.</summary>
    [JsonPropertyName("seen")] public int Seen { get; init; }

    /// <summary>Seconds spent on the epoch's steps so far.</summary>
    [JsonPropertyName("seconds")] public double Seconds { get; init; }

    /// <summary>Number of training samples.</summary>
    [JsonPropertyName("data_count")] public int DataCount { get; init; }

    /// <summary><see cref="Data.ImageDataSet.Fingerprint"/> of the training data.</summary>
    [JsonPropertyName("data_fingerprint")] public ulong DataFingerprint { get; init; }

    /// <summary>
    /// Which data the run trains on (source folder, limits, validation split, image shaping), when the trainer was told
    /// (<see cref="Trainer{T}.Data"/>), so that a resumed run can load the same data again without being told; null otherwise.
    /// </summary>
    [JsonPropertyName("data"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public Data.DataSelection? Data { get; init; }

    /// <summary>The arrays after the weights: <c>optimizer.i</c> (the optimiser's state arrays, in the
    /// network's precision), <c>order</c> (int32, the epoch's sample order), and, when the stop threshold
    /// is on, <c>snapshot.i</c> (each parameter at the epoch's start).</summary>
    [JsonPropertyName("arrays")] public required StateArrayEntry[] Arrays { get; init; }
}

/// <summary>
/// Checkpoint files: a model file (<see cref="ModelFile"/>, format version 2) whose header
/// has a <see cref="TrainingSection"/> and whose weights are followed by the training arrays,
/// all under the same checksum and written by the same atomic writer. A checkpoint is
/// therefore also a model file (<c>sharpcnn eval</c> and <see cref="ModelFile.Load{T}(string)"/>
/// read it), and a crash while one is written leaves the previous checkpoint intact.
/// Loading checks every field against the network and the file: the options must be usable,
/// the optimiser state arrays must be exactly what the optimiser keeps, the order a permutation
/// of the samples, the counters consistent and every stored number finite.
/// </summary>
public static class CheckpointFile
{
    /// <summary>Reads and validates a checkpoint's header and training section (not its arrays).</summary>
    /// <exception cref="FileFormatException">The file is not a valid checkpoint.</exception>
    public static CheckpointHeader ReadHeader(string path)
    {
        var content = ModelContent.Read(path);
        return new CheckpointHeader(content.Header, RequireTraining(content));
    }

    internal static void Save<T>(string path, Network<T> network, Optimizer<T> optimizer, TrainingOptions options, TrainingRun<T> run, ulong fingerprint, Data.DataSelection? data = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var arrays = new List<Array>();
        var entries = new List<StateArrayEntry>();
        void Add(string name, Array array)
        {
            arrays.Add(array);
            entries.Add(StateArrayEntry.For(name, array));
        }
        for (int i = 0; i < optimizer.State.Count; i++) Add($"optimizer.{i}", optimizer.State[i]);
        Add("order", run.Order);
        if (run.Snapshot is { } snapshot)
            for (int i = 0; i < snapshot.Length; i++) Add($"snapshot.{i}", snapshot[i]);
        var section = new TrainingSection
        {
            Options = options,
            Optimizer = optimizer.Name,
            LearningRate = optimizer.LearningRate,
            Steps = optimizer.StepCount,
            Rng = run.Rng.GetState(),
            Epoch = run.Epoch,
            Position = run.Position,
            Shuffled = run.Shuffled,
            EpochSteps = run.EpochSteps,
            LossSum = run.LossSum,
            Correct = run.Correct,
            Seen = run.Seen,
            Seconds = run.Seconds,
            DataCount = run.Order.Length,
            DataFingerprint = fingerprint,
            Data = data,
            Arrays = [.. entries],
        };
        var metadata = new Dictionary<string, string>
        {
            ["checkpoint"] = $"step {optimizer.StepCount}, epoch {run.Epoch}, sample {run.Position} of {run.Order.Length}",
        };
        ModelFile.Write(network, path, metadata, JsonSerializer.SerializeToElement(section, CheckpointJson.Default.TrainingSection), arrays);
    }

    /// <summary>Loads a checkpoint in precision <typeparamref name="T"/> (the one it was written in).</summary>
    internal static LoadedCheckpoint<T> Load<T>(string path) where T : unmanaged, IFloatingPointIeee754<T> =>
        Load<T>(ModelContent.Read(path));

    /// <summary>Loads a checkpoint from the bytes of a checkpoint file; <paramref name="name"/> names it in error messages.</summary>
    internal static LoadedCheckpoint<T> Load<T>(byte[] bytes, string name) where T : unmanaged, IFloatingPointIeee754<T> =>
        Load<T>(ModelContent.Parse(bytes, name));

    private static LoadedCheckpoint<T> Load<T>(ModelContent content) where T : unmanaged, IFloatingPointIeee754<T>
    {
        string path = content.Name;
        var section = RequireTraining(content);
        var stored = content.Header.StoredPrecision;
        if (stored != Precisions.Of<T>())
            throw new ArgumentException($"{path} was trained in {stored.FileName()}; resume it in the same precision ({stored.TypeName()})");
        var network = content.BuildNetwork<T>();
        const int at = ModelFile.HeaderOffset;
        FileFormatException Error(string problem) => new(path, at, problem);

        var options = (section.Options ?? throw Error("expected the training options in the training section, found none")) with { CheckpointPath = path };
        if (options.Problem() is { } problem) throw Error($"expected usable training options, found: {problem}");
        if (!string.Equals(section.Optimizer, options.Optimizer, StringComparison.OrdinalIgnoreCase))
            throw Error($"expected the optimiser '{options.Optimizer}' of the options, found '{section.Optimizer}'");
        if (!(section.LearningRate > 0) || !double.IsFinite(section.LearningRate)) throw Error($"expected a positive learning rate, found {section.LearningRate}");
        if (section.Steps < 0) throw Error($"expected a step count of 0 or more, found {section.Steps}");
        if (section.Rng is not { Length: 4 } rng || (rng[0] | rng[1] | rng[2] | rng[3]) == 0)
            throw Error("expected the generator state as four 64-bit words, not all zero");
        if (section.DataCount <= 0) throw Error($"expected a positive number of training samples, found {section.DataCount}");
        if (section.Epoch < 1 || section.Epoch > options.Epochs + 1) throw Error($"expected an epoch from 1 to {options.Epochs + 1}, found {section.Epoch}");
        if (section.Position < 0 || section.Position > section.DataCount || (!section.Shuffled && section.Position != 0))
            throw Error($"expected a position from 0 to {section.DataCount} (0 before the epoch's order is drawn), found {section.Position}");
        if (section.Seen != section.Position || section.Correct < 0 || section.Correct > section.Seen || section.EpochSteps < 0 || section.EpochSteps > section.Seen)
            throw Error($"expected epoch counters with correct <= seen = position and steps <= seen, found correct {section.Correct}, seen {section.Seen}, steps {section.EpochSteps}, position {section.Position}");
        if (section.Data?.Problem() is { } dataProblem) throw Error($"expected a usable data selection, found: {dataProblem}");
        if (!double.IsFinite(section.LossSum) || !double.IsFinite(section.Seconds) || section.Seconds < 0)
            throw Error($"expected a finite loss sum and non-negative seconds, found {section.LossSum} and {section.Seconds}");

        // The arrays must be exactly what this optimiser keeps, the order, and optionally the snapshot.
        var optimizer = options.CreateOptimizer(network.Parameters);
        var parameters = optimizer.Parameters.ToArray(); // the stop threshold's snapshot covers what is trained, not batch-norm statistics
        string precision = Precisions.Of<T>().FileName();
        var expected = new List<StateArrayEntry>();
        for (int i = 0; i < optimizer.State.Count; i++) expected.Add(new($"optimizer.{i}", precision, optimizer.State[i].Length));
        expected.Add(new("order", StateArrayEntry.Int32, section.DataCount));
        bool hasSnapshot = section.Arrays.Length > expected.Count;
        if (hasSnapshot)
            for (int i = 0; i < parameters.Length; i++) expected.Add(new($"snapshot.{i}", precision, parameters[i].Length));
        if (section.Arrays.Length != expected.Count)
            throw Error($"expected {expected.Count} training arrays ({(optimizer.State.Count == 0 ? "" : $"{optimizer.State.Count} of {optimizer.Name} state, ")}the order{(hasSnapshot ? $", {parameters.Length} snapshots" : "")}), found {section.Arrays.Length}");
        for (int i = 0; i < expected.Count; i++)
        {
            if (section.Arrays[i] != expected[i])
                throw Error($"expected training array {i + 1} to be {expected[i].Name} {expected[i].Type}[{expected[i].Length}], found {section.Arrays[i].Name} {section.Arrays[i].Type}[{section.Arrays[i].Length}]");
        }

        var state = new T[optimizer.State.Count][];
        for (int i = 0; i < state.Length; i++) state[i] = ReadFinite<T>(content, i, path);
        var orderBytes = content.ArrayBytes(optimizer.State.Count, out long orderOffset);
        var order = MemoryMarshal.Cast<byte, int>(orderBytes).ToArray();
        var seen = new bool[order.Length];
        for (int i = 0; i < order.Length; i++)
        {
            int v = order[i];
            if ((uint)v >= (uint)order.Length || seen[v])
                throw new FileFormatException(path, orderOffset + 4L * i, $"expected the sample order to be a permutation of 0..{order.Length - 1}, found {v} at {i}{((uint)v < (uint)order.Length ? " a second time" : "")}");
            seen[v] = true;
        }
        T[][]? snapshot = null;
        if (hasSnapshot)
        {
            snapshot = new T[parameters.Length][];
            for (int i = 0; i < snapshot.Length; i++) snapshot[i] = ReadFinite<T>(content, optimizer.State.Count + 1 + i, path);
        }
        var generator = new Rng(1);
        generator.SetState(rng);
        var run = new TrainingRun<T>
        {
            Order = order,
            Rng = generator,
            Snapshot = snapshot,
            Epoch = section.Epoch,
            Position = section.Position,
            Shuffled = section.Shuffled,
            EpochSteps = section.EpochSteps,
            LossSum = section.LossSum,
            Correct = section.Correct,
            Seen = section.Seen,
            Seconds = section.Seconds,
        };
        return new LoadedCheckpoint<T>(network, options, run, state, section.Steps, section.LearningRate, section.DataFingerprint, section.DataCount) { Data = section.Data };
    }

    private static TrainingSection RequireTraining(ModelContent content) =>
        content.Header.Training is { } section
            ? ModelContent.ReadSection(section, CheckpointJson.Default.TrainingSection, content.Name) ?? throw new FileFormatException(content.Name, ModelFile.HeaderOffset, "expected the training section to be an object, found null")
            : throw new FileFormatException(content.Name, 8,
                $"expected a checkpoint (a model file of format version {ModelFile.CheckpointVersion}, with a training section), found a plain model file of version {content.Version}: resume needs a file written by a run that saves checkpoints");

    private static T[] ReadFinite<T>(ModelContent content, int index, string path) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var values = MemoryMarshal.Cast<byte, T>(content.ArrayBytes(index, out long offset)).ToArray();
        for (int i = 0; i < values.Length; i++)
            if (!T.IsFinite(values[i]))
                throw new FileFormatException(path, offset + (long)i * System.Runtime.CompilerServices.Unsafe.SizeOf<T>(), $"expected finite values in {content.Arrays[index].Name}, found {values[i]} at {i}");
        return values;
    }
}

/// <summary>A checkpoint's header: the model it holds and where its training stood.</summary>
/// <param name="Model">The model part (spec, loss, input, precision, parameters, metadata).</param>
/// <param name="Training">The training section: options, step, epoch, position and the arrays that follow the weights.</param>
public sealed record CheckpointHeader(ModelHeader Model, TrainingSection Training);

/// <summary>A checkpoint read back: the network and everything a trainer needs to continue.</summary>
internal sealed record LoadedCheckpoint<T>(Network<T> Network, TrainingOptions Options, TrainingRun<T> Run, T[][] OptimizerState,
    long Steps, double LearningRate, ulong DataFingerprint, int DataCount)
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The data selection stored with the run, if any.</summary>
    public Data.DataSelection? Data { get; init; }
}

[JsonSourceGenerationOptions(WriteIndented = false, NumberHandling = JsonNumberHandling.Strict, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(TrainingSection))]
internal sealed partial class CheckpointJson : JsonSerializerContext;
