using System.CommandLine;
using SharpCnn.Charts;
using SharpCnn.Data;
using SharpCnn.Distributed;
using SharpCnn.Formats;
using SharpCnn.Pictures;
using SharpCnn.Model;
using SharpCnn.Tensors;
using SharpCnn.Training;

namespace SharpCnn.Cli;

/// <summary><c>sharpcnn train</c>: trains a model (by default the seed CNN on the bundled digits) and reports test accuracy.</summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var data = new DataChoice("Data folder: MNIST-format IDX files (train-/t10k-images/labels, gzip or raw), CIFAR-10 or CIFAR-100 binary files, or an image folder (one subfolder of JPEG/PNG/WebP/BMP/GIF files per class, optionally under train/ and test/); default: the bundled 10,000 MNIST digits");
        var model = CommonOptions.Model("A preset (seed-cnn, seed-fc1, seed-fc2, lenet5), a spec string such as 'conv5x5x8:same,relu,maxpool2,dense10', or a saved .scnn model to continue training");
        var loss = CommonOptions.Loss();
        var init = CommonOptions.Init();
        var epochs = new Option<int>("--epochs", "-e") { Description = "Passes over the training set", DefaultValueFactory = _ => 3, HelpName = "N" }.AtLeast(1);
        var batch = new Option<int>("--batch", "-b") { Description = "Samples per step (1 = the seeds' single-sample training)", DefaultValueFactory = _ => 32, HelpName = "N" }.AtLeast(1);
        var lr = new Option<double>("--lr") { Description = "Learning rate", DefaultValueFactory = _ => 0.001, HelpName = "RATE" }.Positive();
        var optimizer = new Option<string>("--optimizer") { Description = "Optimiser: sgd, momentum or adam", DefaultValueFactory = _ => "adam", HelpName = "sgd|momentum|adam" };
        optimizer.CompletionSources.Add("sgd", "momentum", "adam");
        optimizer.AcceptOnlyFromAmong(StringComparer.OrdinalIgnoreCase, [.. Optim.Optimizers.Names]);
        var momentum = new Option<double>("--momentum") { Description = "Momentum coefficient μ for --optimizer momentum", DefaultValueFactory = _ => 0.9, HelpName = "MU" }.InRange(0, 1);
        var precision = CommonOptions.Precision();
        var seed = new Option<ulong>("--seed") { Description = "Seed of initialisation and shuffling (same seed, same run)", DefaultValueFactory = _ => 1, HelpName = "N" };
        var output = new Option<string?>("--output", "-o") { Description = "Save the trained model to this file (.scnn), for eval and predict", HelpName = "FILE" };
        var stop = new Option<double>("--stop-epsilon") { Description = "Stop when no parameter moved by this much over an epoch (seed 001's threshold; 0 = off)", HelpName = "EPS" }.ZeroOrPositive();
        var maxSteps = new Option<long>("--max-steps") { Description = "Stop after this many steps (0 = no cap)", HelpName = "N" }.AtLeast(0);
        var limit = new Option<int>("--limit") { Description = "Use only the first N training samples (0 = all), before the validation split", HelpName = "N" }.AtLeast(0);
        var validation = new Option<double>("--validation") { Description = "Hold out this fraction of each class of the training set (seeded by --seed) and report validation loss and accuracy after each epoch; the test set is then used only for the final figure", HelpName = "FRACTION" }.InRange(0, 1);
        var keepBest = new Option<bool>("--keep-best") { Description = "Save to --output the epoch with the best validation accuracy (needs --validation), and give the test figure of that model" };
        var augment = new Option<string?>("--augment") { Description = $"Augment the training batches on the fly, as layers in front of a new model: a comma-separated list of {Preprocessing.AugmentHelp}, e.g. crop4,flip", HelpName = "LIST" };
        var normalize = new Option<string?>("--normalize") { Description = "Per-channel normalisation as the new model's first layer, saved with it: auto (mean and std measured on the training set), MEANS/STDS (e.g. 0.49,0.48,0.45/0.25,0.24,0.26) or none; default: none, or auto for a spec with a normalize layer", HelpName = "none|auto|M/S" };
        var testLimit = new Option<int>("--test-limit") { Description = "Use only the first N test samples (0 = all)", HelpName = "N" }.AtLeast(0);
        var schedule = new Option<string>("--lr-schedule") { Description = "Learning-rate schedule: constant, cosine (to 0 over the run) or step:E:f (times f every E epochs)", DefaultValueFactory = _ => "constant", HelpName = "constant|cosine|step:E:f" };
        var weightDecay = new Option<double>("--weight-decay") { Description = "L2 weight decay λ on weights (not biases, batch-norm β or running statistics)", HelpName = "LAMBDA" }.ZeroOrPositive();
        var confusion = new Option<bool>("--confusion") { Description = "Print the confusion matrix at the end" };
        var plots = new Option<string?>("--plots") { Description = "Write pictures into this folder: charts of the loss (per step, smoothed, per epoch), accuracy per epoch, learning rate, gradient norms and update ratios per layer (loss.png, accuracy.png, learning-rate.png, gradients.png, updates.png), kernels.png (first layer), feature-maps.png (of the first test image), confusion.png and an index.html showing them", HelpName = "DIR" };
        var json = CommonOptions.Json("Write JSON Lines to standard output instead of text: a 'start' object, 'step' objects (at most one a second) and 'layers' objects (per-layer statistics, every 5 s), one 'epoch' object per epoch and an 'end' object; view replays it");
        var plain = new Option<bool>("--plain") { Description = "Plain text, one line per epoch, even in a terminal (the default when the output is redirected or CI is set)" };
        var live = new Option<bool>("--live") { Description = "Serve a page on 127.0.0.1 that shows the run as it trains (loss and accuracy per step and epoch, per-layer activation and gradient statistics, kernels, feature maps, confusion matrix; pause and stop buttons) and print its URL; stop writes the checkpoint (default: beside --output)" };
        var port = new Option<int>("--port") { Description = "The live page's port (0 = any free one)", HelpName = "N" }.AtLeast(0);
        var safety = new RunSafety();
        var threads = ThreadsOption.Create();
        var distributed = new Option<bool>("--distributed") { Description = "Train as one of the processes of an mpirun job (MPICH): each computes its share of every batch and all end with the weights of a one-process run; rank 0 alone prints, writes checkpoints and saves the model. Start with: mpirun -np N sharpcnn train --distributed --threads T ..." };
        var rankTimeout = new Option<double>("--rank-timeout") { Description = "With --distributed: end the job when a rank has not reached an exchange this many seconds after the others (beyond their own work since the previous exchange): it died or hung; the message names it", DefaultValueFactory = _ => DefaultRankTimeout, HelpName = "SECONDS" }.Positive();

        var command = new Command("train", "Train a model and report test accuracy after each epoch. With no options: the seed CNN (seed 000 Table 3) on the bundled digits, 3 epochs of Adam.")
        {
            model, loss, init, epochs, batch, lr, optimizer, momentum, schedule, weightDecay, precision, seed, output, stop, maxSteps, limit, testLimit,
            validation, keepBest, augment, normalize, confusion, plots, json, plain, threads, live, port, distributed, rankTimeout,
        };
        foreach (var option in data.All) command.Add(option);
        foreach (var option in safety.All) command.Add(option);
        command.SetAction(r => CommandErrors.Run(r.InvocationConfiguration.Error, () =>
        {
            if (!r.GetValue(distributed))
            {
                if (r.Given(rankTimeout)) throw new ArgumentException("--rank-timeout bounds the waits of a --distributed run: give --distributed too");
                return Body(r, null);
            }
            var error = r.InvocationConfiguration.Error;
            MpiReducer mpi;
            try
            {
                mpi = MpiReducer.Start(TimeSpan.FromSeconds(r.GetValue(rankTimeout)));
            }
            catch (InvalidOperationException e)
            {
                throw new ArgumentException($"--distributed: {e.Message}");
            }
            catch (RankLostException e)
            {
                error.WriteLine($"error: {e.Message}");
                EndJob(error, RankLost);
                throw;
            }
            // Which process is which rank: mpirun's own messages name processes by pid.
            if (mpi.Rank == 0) error.WriteLine($"distributed: {mpi.Ranks} ranks: {mpi.DescribeAll()}; a rank that dies or hangs ends the job within --rank-timeout {r.GetValue(rankTimeout):0.###} s");
            int code;
            try
            {
                code = Body(r, mpi);
            }
            catch (RankLostException e)
            {
                // Raised before or after the training loop (inside it, Run says where to resume): end the job.
                error.WriteLine($"error: {e.Message}");
                EndJob(error, RankLost);
                throw;
            }
            catch (Exception e)
            {
                // The other ranks would wait for this one forever: name it, then end the whole job.
                error.WriteLine($"error: {mpi.Describe(mpi.Rank)}: {CommandErrors.OneLine(e)}");
                EndJob(error, CommandErrors.IsUserError(e) ? CommandErrors.UserError : CommandErrors.InternalError);
                throw;
            }
            mpi.Dispose();
            return code;
        }));
        return command;

        int Body(ParseResult r, MpiReducer? mpi)
        {
            ThreadsOption.Apply(r.GetValue(threads));
            if (r.GetValue(output) is { } outputPath) RunSafety.CheckWritable(outputPath, "--output");
            if (r.GetValue(keepBest) && r.GetValue(validation) == 0) throw new ArgumentException("--keep-best needs a validation set to choose the epoch by: give --validation FRACTION");
            if (r.GetValue(keepBest) && r.GetValue(output) is null) throw new ArgumentException("--keep-best saves the best epoch to --output: give --output FILE");
            var augmentations = Preprocessing.Augmentations(r.GetValue(augment));
            var normalization = Preprocessing.ParseNormalize(r.GetValue(normalize));
            string? resume = r.GetValue(safety.Resume);
            ModelChoice? choice = null;
            var chosen = PrecisionOption.Parse(r.GetValue(precision)!);
            TrainingOptions options;
            string? resumed = null;
            DataSelection? storedData = null;
            if (resume is null)
            {
                choice = ModelChoice.Resolve(r.GetValue(model)!, r.GetValue(loss), r.GetValue(init));
                options = new TrainingOptions
                {
                    Epochs = r.GetValue(epochs),
                    BatchSize = r.GetValue(batch),
                    LearningRate = r.GetValue(lr),
                    Optimizer = r.GetValue(optimizer)!,
                    Momentum = r.GetValue(momentum),
                    Schedule = LearningRateSchedule.Parse(r.GetValue(schedule)!),
                    WeightDecay = r.GetValue(weightDecay),
                    Seed = r.GetValue(seed),
                    StopEpsilon = r.GetValue(stop),
                    MaxSteps = r.GetValue(maxSteps),
                };
            }
            else
            {
                // The checkpoint's model and settings; an option typed here overrides its setting.
                var header = RunSafety.ReadCheckpoint(r, resume, model, loss, init, augment, normalize);
                storedData = header.Training.Data; // null in a checkpoint written before the data were stored: the options given say
                var at = header.Training;
                var stored = header.Model.StoredPrecision;
                if (r.Given(precision) && chosen != stored)
                    throw new ArgumentException($"--precision {r.GetValue(precision)}: {resume} was trained in {stored.TypeName()}; resume it in {stored.TypeName()}");
                chosen = stored;
                var saved = at.Options;
                options = saved with
                {
                    Epochs = r.Given(epochs) ? r.GetValue(epochs) : saved.Epochs,
                    BatchSize = r.Given(batch) ? r.GetValue(batch) : saved.BatchSize,
                    LearningRate = r.Given(lr) ? r.GetValue(lr) : saved.LearningRate,
                    Optimizer = r.Given(optimizer) ? r.GetValue(optimizer)! : saved.Optimizer,
                    Momentum = r.Given(momentum) ? r.GetValue(momentum) : saved.Momentum,
                    Schedule = r.Given(schedule) ? LearningRateSchedule.Parse(r.GetValue(schedule)!) : saved.Schedule,
                    WeightDecay = r.Given(weightDecay) ? r.GetValue(weightDecay) : saved.WeightDecay,
                    Seed = r.Given(seed) ? r.GetValue(seed) : saved.Seed,
                    StopEpsilon = r.Given(stop) ? r.GetValue(stop) : saved.StopEpsilon,
                    MaxSteps = r.Given(maxSteps) ? r.GetValue(maxSteps) : saved.MaxSteps,
                };
                resumed = $"{resume}: step {at.Steps}, epoch {at.Epoch}, sample {at.Position} of {at.DataCount}";
            }
            options = safety.Apply(r, options, resume is not null, r.GetValue(output));
            if (r.Given(port) && !r.GetValue(live)) throw new ArgumentException("--port is the live page's: give --live too");
            if (r.GetValue(port) > 65535) throw new ArgumentException($"--port must be 0 to 65535, not {r.GetValue(port)}");
            // The stop button writes a checkpoint (by default beside --output, as a signal's does).
            if (r.GetValue(live)) RunSafety.CheckWritable(options.CheckpointPath!, "--checkpoint");
            var selection = data.Selection(r) with
            {
                TrainLimit = r.GetValue(limit),
                TestLimit = r.GetValue(testLimit),
                ValidationFraction = r.GetValue(validation),
                ValidationSeed = options.Seed,
            };
            if (storedData is not null)
                selection = ResumeData(r, storedData, selection, data, limit, testLimit, validation, seed, r.InvocationConfiguration.Error);
            selection = selection with { Source = selection.Source is { } folder ? Path.GetFullPath(folder) : null }; // the checkpoint works from any folder
            var loaded = DataChoice.Load(selection, Images.DataParts.All, r.InvocationConfiguration.Error);
            var train = loaded.Train!;
            if (choice is not null && choice.File is null)
            {
                // A new model: augmentation and normalisation in front, the last dense layer fitted to the data's classes.
                bool addNormalize = normalization?.Add ?? false;
                bool preset = Model.Presets.Find(choice.Label) is not null;
                string spec = Preprocessing.Prepare(choice.Spec, augmentations, addNormalize, train.Classes, preset, train.ClassNames, out string? note);
                choice = choice with { Spec = spec, Note = note };
            }
            else if (augmentations.Count > 0 || normalization is { Add: true })
            {
                throw new ArgumentException($"--augment and --normalize shape a new model; {(resume is null ? choice!.File : resume)} already has its layers");
            }
            if (mpi is not null && r.GetValue(live)) throw new ArgumentException("--live serves a page from one process; with --distributed, follow rank 0's output (or --json) instead");
            // Rank 0 alone prints; the others train silently.
            var report = TrainingReport.Create(mpi is { Rank: > 0 } ? TextWriter.Null : r.InvocationConfiguration.Output, r.GetValue(json), r.GetValue(plain));
            var run = new Run(choice, resume, resumed, options, selection, train, loaded.Validation, loaded.Test, loaded.Label, normalization, r.GetValue(keepBest),
                r.GetValue(output), r.GetValue(plots), r.GetValue(confusion), report, r.InvocationConfiguration.Error)
            {
                LivePort = r.GetValue(live) ? r.GetValue(port) : null,
                Json = r.GetValue(json) && mpi is not { Rank: > 0 } ? r.InvocationConfiguration.Output : null,
                Mpi = mpi,
            };
            return PrecisionOption.Dispatch(chosen, run);
        }
    }

    /// <summary>
    /// The data of a resumed run: the checkpoint's selection, with each data option given on the command line
    /// overriding its part, and a warning for each that changes it (the training data must still have the
    /// checkpoint's fingerprint; a moved folder, another test limit or more images elsewhere are the usual reasons).
    /// </summary>
    private static DataSelection ResumeData(ParseResult r, DataSelection stored, DataSelection given, DataChoice data,
        Option<int> limit, Option<int> testLimit, Option<double> validation, Option<ulong> seed, TextWriter error)
    {
        var result = stored;
        void Take(Option option, bool changes, Func<DataSelection, DataSelection> apply, string was)
        {
            if (!r.Given(option)) return;
            if (changes) error.WriteLine($"warning: {option.Name} overrides the data the checkpoint was trained on ({was})");
            result = apply(result);
        }
        string Full(string? folder) => folder is null ? "" : Path.GetFullPath(folder);
        Take(data.Data, Full(given.Source) != Full(stored.Source), d => d with { Source = given.Source }, stored.Source ?? "the bundled digits");
        Take(data.Size, (given.Width, given.Height) != (stored.Width, stored.Height), d => d with { Width = given.Width, Height = given.Height },
            stored.Width == 0 ? "the images' own size" : $"{stored.Width}x{stored.Height}");
        Take(data.Channels, given.Channels != stored.Channels, d => d with { Channels = given.Channels }, stored.Channels == 0 ? "channels as they come" : $"{stored.Channels} channels");
        Take(data.Label, given.Label != stored.Label, d => d with { Label = given.Label }, $"{stored.Label.ToString().ToLowerInvariant()} labels");
        Take(data.SkipUnreadable, given.SkipUnreadable != stored.SkipUnreadable, d => d with { SkipUnreadable = given.SkipUnreadable }, stored.SkipUnreadable ? "skipping unreadable images" : "stopping at an unreadable image");
        Take(limit, given.TrainLimit != stored.TrainLimit, d => d with { TrainLimit = given.TrainLimit }, stored.TrainLimit == 0 ? "all training images" : $"--limit {stored.TrainLimit}");
        Take(testLimit, given.TestLimit != stored.TestLimit, d => d with { TestLimit = given.TestLimit }, stored.TestLimit == 0 ? "all test images" : $"--test-limit {stored.TestLimit}");
        Take(validation, given.ValidationFraction != stored.ValidationFraction, d => d with { ValidationFraction = given.ValidationFraction },
            stored.ValidationFraction == 0 ? "no validation set" : $"--validation {stored.ValidationFraction}");
        if (stored.ValidationFraction > 0 && r.Given(seed) && given.ValidationSeed != stored.ValidationSeed)
        {
            error.WriteLine($"warning: --seed also reseeds the validation split the checkpoint was trained with (seed {stored.ValidationSeed})");
            result = result with { ValidationSeed = given.ValidationSeed };
        }
        return result;
    }

    /// <summary>
    /// Ends the whole mpirun job with <paramref name="code"/> after what this rank printed on <paramref name="error"/> has had
    /// a moment to reach mpirun (which stops forwarding output once it ends the processes).
    /// </summary>
    private static void EndJob(TextWriter error, int code)
    {
        error.Flush();
        Thread.Sleep(500);
        MpiReducer.AbortJob(code);
    }

    /// <summary>The default of <c>--rank-timeout</c>: detection and the end of the job fit in 30 s.</summary>
    internal const double DefaultRankTimeout = 20;

    /// <summary>Exit code of a distributed run that lost a rank (it died or hung): EX_UNAVAILABLE.</summary>
    internal const int RankLost = 69;

    /// <summary>The usual remedies for a run the divergence guard stopped.</summary>
    internal const string DivergenceAdvice =
        "try a lower --lr, --init normal or he (rand()-style uniform init makes the outputs grow layer by layer), " +
        "--clip-norm, or a '-max' (minusmax) layer before the loss; --resume the last checkpoint with the new settings";

    private sealed record Run(ModelChoice? Choice, string? ResumeFrom, string? Resumed, TrainingOptions Options, DataSelection Selection, ImageDataSet Train, ImageDataSet? Validation, ImageDataSet? Test,
        string DataLabel, Preprocessing.NormalizeChoice? Normalization, bool KeepBest, string? Output, string? Plots, bool Confusion, TrainingReport Report, TextWriter Error) : IPrecisionAction
    {
        /// <summary>With <c>--live</c>: the page's port (0 = any free one).</summary>
        public int? LivePort { get; init; }

        /// <summary>With <c>--json</c>: standard output, where step and layers events go too.</summary>
        public TextWriter? Json { get; init; }

        /// <summary>The MPI job this process is a rank of (--distributed), or null.</summary>
        public MpiReducer? Mpi { get; init; }

        public int Invoke<T>() where T : unmanaged, IFloatingPointIeee754<T>
        {
            if (ResumeFrom is null)
            {
                // Sized before anything is allocated: a model or batch that cannot fit is refused here, in well under a second.
                int evaluated = Math.Max(Validation?.Count ?? 0, Test?.Count ?? 0);
                Choice!.CheckMemory<T>(Train.Shape, MemoryEstimate.RunBatch(Options.BatchSize, Train.Count, Options.EvaluationBatchSize, evaluated), Options.Optimizer);
            }
            var trainer = ResumeFrom is null
                ? new Trainer<T>(Choice!.Create<T>(Train.Shape, Options.Seed), Options)
                : Trainer<T>.Resume(ResumeFrom, _ => Options);
            trainer.Reducer = Mpi;
            bool writer = Mpi is not { Rank: > 0 }; // rank 0 (or the only process) writes files
            var network = trainer.Network;
            string? normalized = null;
            if (ResumeFrom is null && Choice!.File is null)
            {
                normalized = Preprocessing.SetStatistics(network, Train, Normalization);
                if (Train.ClassNames is { } names && names.Count == network.Classes) network.ClassNames = names;
            }
            else if (network.ClassNames is null && Train.ClassNames is { } names && names.Count == network.Classes)
            {
                network.ClassNames = names;
            }
            string init = Choice is null ? "from checkpoint" : Choice.File is null ? Initializer.Name(Choice.Init) : "from file";
            string label = Choice?.Label ?? ResumeFrom!;
            if (Choice?.Note is { } note) label += $" ({note})";
            if (normalized is not null) label += $"; normalisation {normalized}";
            var start = new TrainingStart(label, network.Spec, network.ParameterCount, network.ForwardFlops / 1e6, network.Loss.Name,
                init, Precisions.Of<T>().FileName(), DataLabel, Train.Count, Test?.Count ?? 0, Train.Shape, Options, Resumed)
            {
                ValidationCount = Validation?.Count ?? 0,
                ClassNames = network.ClassNames,
            };
            using var live = LivePort is not null || Json is not null ? LiveTrainingPage<T>.Start(trainer, Test ?? Validation ?? Train, LivePort, start, Error, Json) : null;
            // --plots: every step's loss and learning rate, and about 400 measurements of the gradients and updates.
            long plannedSteps = Options.Epochs * (long)((Train.Count + Math.Min(Options.BatchSize, Train.Count) - 1) / Math.Min(Options.BatchSize, Train.Count));
            if (Options.MaxSteps > 0) plannedSteps = Math.Min(plannedSteps, Options.MaxSteps);
            var recorder = Plots is not null && writer ? new TrainingRecorder<T>(trainer, TrainingRecorder<T>.EveryFor(plannedSteps)) : null;
            Report.Start(start);
            trainer.CheckpointSaved += Report.Checkpoint;
            trainer.Data = Selection; // stored in every checkpoint: --resume alone loads these data again

            // --keep-best: the output holds the best epoch so far (a resumed run continues from the accuracy it records).
            double best = KeepBest && ResumeFrom is not null ? BestSoFar(Output!) : double.NegativeInfinity;
            int bestEpoch = 0;
            TrainingResult Fit() => Report.Run(Options.Epochs, Train.Count, (onProgress, onEpoch) =>
            {
                trainer.Progress += onProgress;
                trainer.EpochCompleted += e =>
                {
                    if (KeepBest && writer && e.Validation is { } v && v.Accuracy > best)
                    {
                        best = v.Accuracy;
                        bestEpoch = e.Epoch;
                        ModelFile.Save(network, Output!, Metadata(v, e.Epoch));
                    }
                    onEpoch(e);
                };
                return trainer.Fit(Train, Validation, Validation is null ? Test : null);
            });
            TrainingResult result;
            // Under --distributed a signal keeps its default effect (the job ends; resume from the last
            // --checkpoint-every checkpoint): ranks stopping on their own could stop at different steps.
            using var signals = Mpi is null ? new StopSignals(trainer.Stopping, Error) : null;
            try
            {
                result = Fit();
            }
            catch (SaveFailedException e) when (e.FilePath == Options.CheckpointPath && File.Exists(e.FilePath))
            {
                throw new SaveFailedException(e.FilePath, $"{e.Message}; once it can be written, continue with: sharpcnn train --resume {e.FilePath}", e);
            }
            catch (RankLostException e) when (Mpi is not null)
            {
                // Say where to resume, then end the job: the other ranks cannot go on without the lost one.
                Error.WriteLine($"error: {e.Message}");
                string? checkpoint = Options.CheckpointPath;
                if (checkpoint is not null && File.Exists(checkpoint))
                {
                    var at = CheckpointFile.ReadHeader(checkpoint).Training;
                    Error.WriteLine($"  the last checkpoint is {checkpoint} (step {at.Steps}, epoch {at.Epoch}); resume on any number of ranks with:");
                    Error.WriteLine($"  mpirun -np N {ResumeCommand(checkpoint)} --distributed");
                }
                else if (Options.CheckpointEvery > 0 && checkpoint is not null)
                {
                    Error.WriteLine($"  rank 0 writes the checkpoints to {checkpoint} on {Mpi.Peers[0].Host}; resume on any number of ranks with: mpirun -np N {ResumeCommand(checkpoint)} --distributed");
                }
                else
                {
                    Error.WriteLine("  no checkpoint was written (--checkpoint-every N keeps one to resume from)");
                }
                EndJob(Error, RankLost);
                throw;
            }
            if (result.Stopped && signals?.ExitCode is { } signalled)
            {
                // Stopped by a signal: the state after the last step is in the checkpoint; the model is not finished, so --output waits for the resumed run.
                Report.End(new TrainingEnd(result, null, null, [], false));
                var at = CheckpointFile.ReadHeader(result.LastCheckpoint!).Training;
                Error.WriteLine($"stopped by {signals!.Name} at step {at.Steps} (epoch {at.Epoch}, sample {at.Position} of {at.DataCount}); checkpoint: {result.LastCheckpoint}");
                Error.WriteLine($"  resume with: {ResumeCommand(result.LastCheckpoint!)}");
                return signalled;
            }
            if (result.Diverged)
            {
                live?.Finish(result, null, DivergenceAdvice);
                Report.End(new TrainingEnd(result, null, null, [], false));
                Error.WriteLine($"error: training diverged: {result.Divergence?.Describe() ?? result.StopReason}");
                Error.WriteLine($"  {DivergenceAdvice}");
                Error.WriteLine(result.LastCheckpoint is { } good
                    ? $"  last good checkpoint: {good} (step {CheckpointFile.ReadHeader(good).Training.Steps}); nothing was saved after it"
                    : "  no checkpoint was written (--checkpoint-every N keeps one); --output was not saved");
                return 1;
            }
            if (!writer) return 0; // the other ranks have the same weights; rank 0 saves, evaluates and reports them
            string? bestLine = null;
            var kept = network;
            if (KeepBest)
            {
                if (bestEpoch > 0 || File.Exists(Output))
                {
                    kept = ModelFile.Load<T>(Output!);
                    var meta = ModelFile.ReadHeader(Output!).Metadata;
                    bestLine = $"kept     epoch {meta.GetValueOrDefault("epoch", "?")} of {Output}: the best validation accuracy, {double.Parse(meta.GetValueOrDefault("validation_accuracy", "NaN"), System.Globalization.CultureInfo.InvariantCulture):P2}";
                }
            }
            // The final figure is the test set's, looked at once here when a validation set guided the run.
            var final = Test is null ? null
                : !KeepBest && Validation is null && result.Epochs.Count > 0 && result.Epochs[^1].Test is { } last ? last
                : Evaluator.Evaluate(kept, Test);
            if (Output is not null && !KeepBest)
            {
                var lastValidation = result.Epochs.Count > 0 ? result.Epochs[^1].Validation : null;
                ModelFile.Save(network, Output, Metadata(lastValidation, result.Epochs.Count > 0 ? result.Epochs[^1].Epoch : 0, final));
            }
            else if (Output is not null && final is not null && File.Exists(Output))
            {
                // The kept model's file gets the test figure measured on it.
                var meta = new Dictionary<string, string>(ModelFile.ReadHeader(Output).Metadata) { ["test_accuracy"] = Invariant(final.Accuracy) };
                ModelFile.Save(kept, Output, meta);
            }
            IReadOnlyList<string> pictures = [];
            var pictureData = Test ?? Validation ?? Train;
            var summary = final ?? Evaluator.Evaluate(kept, pictureData);
            if (Plots is not null)
            {
                var sample = new T[pictureData.Shape.Size];
                pictureData.CopyBatch<T>([0], sample, new int[1]);
                var files = new List<string>(TrainingCharts.SaveAll(Plots, recorder!.History));
                files.AddRange(ModelPictures.SaveAll(Plots, kept, summary, sample));
                files.Add(TrainingCharts.WriteIndex(Plots, kept.Spec, files));
                pictures = files;
            }
            live?.Finish(result, final, null);
            Report.End(new TrainingEnd(result, final, Output, pictures, Confusion) { Best = bestLine, BestEpoch = KeepBest ? bestEpoch : null });
            return 0;
        }

        /// <summary>The command that continues this run: the checkpoint, and what the checkpoint does not hold (where the results go).</summary>
        private string ResumeCommand(string checkpoint)
        {
            var words = new List<string> { "sharpcnn", "train", "--resume", checkpoint };
            if (Output is not null) words.AddRange(["--output", Output]);
            if (KeepBest) words.Add("--keep-best");
            if (Plots is not null) words.AddRange(["--plots", Plots]);
            if (Confusion) words.Add("--confusion");
            return string.Join(' ', words.Select(Quote));
        }

        private static string Quote(string word) =>
            word.Length > 0 && word.All(c => char.IsAsciiLetterOrDigit(c) || "-_./:=+,@%".Contains(c)) ? word : "'" + word.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

        private Dictionary<string, string> Metadata(Evaluation? validation, int epoch, Evaluation? test = null)
        {
            var metadata = new Dictionary<string, string>
            {
                ["trained"] = DateTime.UtcNow.ToString("O"),
                ["data"] = DataLabel,
                ["epoch"] = epoch.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["command"] = "sharpcnn " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1)),
            };
            if (validation is not null) metadata["validation_accuracy"] = Invariant(validation.Accuracy);
            if (test is not null) metadata["test_accuracy"] = Invariant(test.Accuracy);
            return metadata;
        }

        private static string Invariant(double value) => value.ToString("R", System.Globalization.CultureInfo.InvariantCulture);

        /// <summary>The validation accuracy the output file of an earlier part of the run records, or -∞.</summary>
        private static double BestSoFar(string path)
        {
            if (!File.Exists(path)) return double.NegativeInfinity;
            var meta = ModelFile.ReadHeader(path).Metadata;
            return meta.TryGetValue("validation_accuracy", out string? text) && double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double v)
                ? v : double.NegativeInfinity;
        }
    }
}
