using System.CommandLine;
using SharpCnn.Formats;
using SharpCnn.Training;

namespace SharpCnn.Cli;

/// <summary>
/// The train options that keep a run safe: checkpoints (<c>--checkpoint-every</c>, <c>--checkpoint</c>),
/// resuming (<c>--resume</c>), the divergence guard's limit (<c>--explosion-limit</c>) and gradient
/// clipping (<c>--clip-norm</c>); and the checks that paths the run will write to are usable before
/// any time is spent training.
/// </summary>
internal sealed class RunSafety
{
    public Option<long> CheckpointEvery { get; } = new Option<long>("--checkpoint-every")
    {
        Description = "Write a checkpoint every N steps (and at the end): weights, optimiser, data order and position, to resume bit for bit (0 = never)",
    }.AtLeast(0);

    public Option<string?> Checkpoint { get; } = new("--checkpoint")
    {
        Description = "Checkpoint file, replaced atomically each time, and where Ctrl-C or SIGTERM saves the run (default: NAME.checkpoint.scnn beside --output NAME.scnn, else checkpoint.scnn; the --resume file when resuming)",
    };

    public Option<string?> Resume { get; } = new("--resume")
    {
        Description = "Continue the run saved in this checkpoint: the model, optimiser, settings and data come from it (no other option needed); options given here override, with a warning when they change the data",
    };

    public Option<double> ExplosionLimit { get; } = new Option<double>("--explosion-limit")
    {
        Description = "Stop when a layer output, gradient, parameter or the loss exceeds this magnitude (NaN/inf always stop; 0 = only those)",
        DefaultValueFactory = _ => TrainingOptions.DefaultExplosionLimit,
    }.ZeroOrPositive();

    public Option<double> ClipNorm { get; } = new Option<double>("--clip-norm")
    {
        Description = "Scale the gradients down so their global L2 norm is at most this before each update (0 = off)",
    }.ZeroOrPositive();

    public IEnumerable<Option> All => [CheckpointEvery, Checkpoint, Resume, ExplosionLimit, ClipNorm];

    /// <summary>
    /// Where checkpoints go when <c>--checkpoint</c> is not given (and not resuming, which keeps the resumed file):
    /// beside <paramref name="output"/> as <c>NAME.checkpoint.scnn</c>, or <c>checkpoint.scnn</c> without an output. A run
    /// stopped by a signal writes its checkpoint there even without <c>--checkpoint-every</c>.
    /// </summary>
    public static string DefaultCheckpoint(string? output) =>
        output is null ? "checkpoint.scnn" : Path.Combine(Path.GetDirectoryName(output) ?? "", Path.GetFileNameWithoutExtension(output) + ".checkpoint.scnn");

    /// <summary>Adds the checkpoint, guard and clipping settings the user gave to <paramref name="options"/>.</summary>
    public TrainingOptions Apply(ParseResult r, TrainingOptions options, bool resuming, string? output)
    {
        string? resume = r.GetValue(Resume);
        options = options with
        {
            CheckpointEvery = r.Given(CheckpointEvery) || !resuming ? r.GetValue(CheckpointEvery) : options.CheckpointEvery,
            CheckpointPath = r.GetValue(Checkpoint) ?? (resuming ? resume : DefaultCheckpoint(output)),
            ExplosionLimit = r.Given(ExplosionLimit) || !resuming ? r.GetValue(ExplosionLimit) : options.ExplosionLimit,
            ClipNorm = r.Given(ClipNorm) || !resuming ? r.GetValue(ClipNorm) : options.ClipNorm,
        };
        if (options.CheckpointEvery > 0) CheckWritable(options.CheckpointPath!, "--checkpoint");
        return options;
    }

    /// <summary>
    /// Fails now, with one line naming the option, when <paramref name="path"/> cannot be written
    /// (a folder, a missing or read-only folder), instead of after the training it would lose.
    /// </summary>
    public static void CheckWritable(string path, string option)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new ArgumentException($"{option} needs a file name");
        string full;
        try
        {
            full = Path.GetFullPath(path);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new ArgumentException($"{option} {path}: not a usable file name ({e.Message})");
        }
        if (Directory.Exists(full)) throw new ArgumentException($"{option} {path}: is a folder; give a file name");
        string dir = Path.GetDirectoryName(full) ?? ".";
        try
        {
            Directory.CreateDirectory(dir);
            string probe = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose)) { }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            string cause = e.Message;
            int quote = cause.IndexOf(" : '", StringComparison.Ordinal);
            if (quote > 0) cause = cause[..quote]; // the probe's temporary name means nothing to the user
            throw new ArgumentException($"{option} {path}: cannot write in {dir} ({cause.TrimEnd('.')})");
        }
    }

    /// <summary>
    /// For <c>--resume</c>: the checkpoint's header, after checking that the options which define
    /// the model were not given (they come from the checkpoint).
    /// </summary>
    public static CheckpointHeader ReadCheckpoint(ParseResult r, string path, params Option[] fixedByCheckpoint)
    {
        foreach (var option in fixedByCheckpoint)
            if (r.Given(option)) throw new ArgumentException($"{option.Name} cannot be given with --resume: the model comes from the checkpoint {path}");
        return CheckpointFile.ReadHeader(path);
    }
}
