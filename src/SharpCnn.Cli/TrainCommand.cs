using System.CommandLine;
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
        var data = CommonOptions.Data("Folder with MNIST-format IDX files (train-/t10k-images/labels, gzip or raw); default: the bundled 10,000 MNIST digits");
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
        var limit = new Option<int>("--limit") { Description = "Use only the first N training samples (0 = all)", HelpName = "N" }.AtLeast(0);
        var testLimit = new Option<int>("--test-limit") { Description = "Use only the first N test samples (0 = all)", HelpName = "N" }.AtLeast(0);
        var schedule = new Option<string>("--lr-schedule") { Description = "Learning-rate schedule: constant, cosine (to 0 over the run) or step:E:f (times f every E epochs)", DefaultValueFactory = _ => "constant", HelpName = "constant|cosine|step:E:f" };
        var weightDecay = new Option<double>("--weight-decay") { Description = "L2 weight decay λ on weights (not biases, batch-norm β or running statistics)", HelpName = "LAMBDA" }.ZeroOrPositive();
        var confusion = new Option<bool>("--confusion") { Description = "Print the confusion matrix at the end" };
        var plots = new Option<string?>("--plots") { Description = "Write pictures into this folder: loss.svg and accuracy.svg (learning curves), kernels.png (first layer), feature-maps.png (of the first test image), confusion.png and an index.html showing them", HelpName = "DIR" };
        var json = CommonOptions.Json("Write JSON Lines to standard output instead of text: a 'start' object, one 'epoch' object per epoch and an 'end' object");
        var plain = new Option<bool>("--plain") { Description = "Plain text, one line per epoch, even in a terminal (the default when the output is redirected or CI is set)" };
        var safety = new RunSafety();
        var threads = ThreadsOption.Create();

        var command = new Command("train", "Train a model and report test accuracy after each epoch. With no options: the seed CNN (seed 000 Table 3) on the bundled digits, 3 epochs of Adam.")
        {
            data, model, loss, init, epochs, batch, lr, optimizer, momentum, schedule, weightDecay, precision, seed, output, stop, maxSteps, limit, testLimit, confusion, plots, json, plain, threads,
        };
        foreach (var option in safety.All) command.Add(option);
        command.SetAction(r => CommandErrors.Run(r.InvocationConfiguration.Error, () =>
        {
            ThreadsOption.Apply(r.GetValue(threads));
            if (r.GetValue(output) is { } outputPath) RunSafety.CheckWritable(outputPath, "--output");
            string? resume = r.GetValue(safety.Resume);
            ModelChoice? choice = null;
            var chosen = PrecisionOption.Parse(r.GetValue(precision)!);
            TrainingOptions options;
            string? resumed = null;
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
                var header = RunSafety.ReadCheckpoint(r, resume, model, loss, init);
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
            options = safety.Apply(r, options, resume is not null);
            var (train, test, label) = DataChoice.Load(r.GetValue(data), r.GetValue(limit), r.GetValue(testLimit));
            var report = TrainingReport.Create(r.InvocationConfiguration.Output, r.GetValue(json), r.GetValue(plain));
            var run = new Run(choice, resume, resumed, options, train, test, label, r.GetValue(output), r.GetValue(plots), r.GetValue(confusion), report, r.InvocationConfiguration.Error);
            return PrecisionOption.Dispatch(chosen, run);
        }));
        return command;
    }

    /// <summary>The usual remedies for a run the divergence guard stopped.</summary>
    internal const string DivergenceAdvice =
        "try a lower --lr, --init normal or he (rand()-style uniform init makes the outputs grow layer by layer), " +
        "--clip-norm, or a '-max' (minusmax) layer before the loss; --resume the last checkpoint with the new settings";

    private sealed record Run(ModelChoice? Choice, string? ResumeFrom, string? Resumed, TrainingOptions Options, Data.ImageDataSet Train, Data.ImageDataSet Test, string DataLabel,
        string? Output, string? Plots, bool Confusion, TrainingReport Report, TextWriter Error) : IPrecisionAction
    {
        public int Invoke<T>() where T : unmanaged, IFloatingPointIeee754<T>
        {
            var trainer = ResumeFrom is null
                ? new Trainer<T>(Choice!.Create<T>(Train.Shape, Options.Seed), Options)
                : Trainer<T>.Resume(ResumeFrom, _ => Options);
            var network = trainer.Network;
            string init = Choice is null ? "from checkpoint" : Choice.File is null ? Initializer.Name(Choice.Init) : "from file";
            Report.Start(new TrainingStart(Choice?.Label ?? ResumeFrom!, network.Spec, network.ParameterCount, network.ForwardFlops / 1e6, network.Loss.Name,
                init, Precisions.Of<T>().FileName(), DataLabel, Train.Count, Test.Count, Train.Shape, Options, Resumed));
            trainer.CheckpointSaved += Report.Checkpoint;
            var result = Report.Run(Options.Epochs, Train.Count, (onProgress, onEpoch) =>
            {
                trainer.Progress += onProgress;
                trainer.EpochCompleted += onEpoch;
                return trainer.Fit(Train, Test);
            });
            if (result.Diverged)
            {
                Report.End(new TrainingEnd(result, null, null, [], false));
                Error.WriteLine($"error: training diverged: {result.Divergence?.Describe() ?? result.StopReason}");
                Error.WriteLine($"  {DivergenceAdvice}");
                Error.WriteLine(result.LastCheckpoint is { } good
                    ? $"  last good checkpoint: {good} (step {CheckpointFile.ReadHeader(good).Training.Steps}); nothing was saved after it"
                    : "  no checkpoint was written (--checkpoint-every N keeps one); --output was not saved");
                return 1;
            }
            var final = result.Epochs.Count > 0 && result.Epochs[^1].Test is { } last ? last : Evaluator.Evaluate(network, Test);
            if (Output is not null)
            {
                ModelFile.Save(network, Output, new Dictionary<string, string>
                {
                    ["trained"] = DateTime.UtcNow.ToString("O"),
                    ["data"] = DataLabel,
                    ["test_accuracy"] = final.Accuracy.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
                    ["command"] = "sharpcnn " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1)),
                });
            }
            IReadOnlyList<string> pictures = [];
            if (Plots is not null)
            {
                var sample = new T[Test.Shape.Size];
                Test.CopyBatch<T>([0], sample, new int[1]);
                pictures = ModelPictures.SaveAll(Plots, network, result, final, sample);
            }
            Report.End(new TrainingEnd(result, final, Output, pictures, Confusion));
            return 0;
        }
    }
}
