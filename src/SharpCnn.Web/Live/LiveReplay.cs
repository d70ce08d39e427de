using System.Text.Json;
using System.Text.Json.Nodes;
using SharpCnn.Formats;
using SharpCnn.Pictures;
using SharpCnn.Training;

namespace SharpCnn.Web.Live;

/// <summary>
/// The live page's events of a finished run, for a replay: from the JSON Lines log that training writes as JSON
/// (its <c>start</c>, <c>step</c>, <c>layers</c>, <c>epoch</c> and <c>end</c> objects; <c>checkpoint</c> lines and
/// unknown events are passed over), or from a checkpoint, which records no finished epochs: the model, the
/// settings, where the run stood (step, epoch, position) with its epoch's running loss and accuracy, and the
/// first layer's kernels.
/// </summary>
public static class LiveReplay
{
    /// <summary>The most bytes of a log read (a log of a long run with step events is a few MB).</summary>
    public const long MaxLogBytes = 512L * 1024 * 1024;

    /// <summary>Publishes the events of the run in <paramref name="path"/> (a JSON Lines log or a checkpoint) to <paramref name="events"/>; returns what it is, for a message.</summary>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    /// <exception cref="FileFormatException">The file is neither a JSON Lines training log nor a checkpoint; the message says which line or what is wrong.</exception>
    public static string Load(string path, LiveEventLog events)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(events);
        if (!File.Exists(path)) throw new FileNotFoundException($"no such file: {path}", path);
        int first;
        using (var probe = File.OpenRead(path))
        {
            if (probe.Length > MaxLogBytes) throw new FileFormatException(path, -1, $"{probe.Length:N0} bytes, over the {MaxLogBytes:N0} a replay reads");
            do first = probe.ReadByte(); while (first is ' ' or '\t' or '\r' or '\n' or 0xEF or 0xBB or 0xBF);
        }
        return first == '{' ? LoadLog(path, events) : LoadCheckpoint(path, events);
    }

    private static string LoadLog(string path, LiveEventLog events)
    {
        int number = 0, epochs = 0;
        bool started = false;
        foreach (string line in File.ReadLines(path))
        {
            number++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            JsonObject o;
            try
            {
                o = JsonNode.Parse(line) as JsonObject ?? throw new FileFormatException(path, -1, $"line {number}: not a JSON object");
            }
            catch (JsonException e)
            {
                throw new FileFormatException(path, -1, $"line {number}: not JSON ({e.Message})", e);
            }
            string? type = o["event"]?.GetValueKind() == JsonValueKind.String ? (string?)o["event"] : null;
            o.Remove("event");
            switch (type)
            {
                case "start":
                    started = true;
                    o["live"] = false;
                    o["source"] = Path.GetFileName(path);
                    o["model"] ??= o["spec"]?.DeepClone();
                    o["settings"] = $"{o["epochs"]} epoch(s), batch {o["batch_size"]}, {o["optimizer"]} lr {o["learning_rate"]}, seed {o["seed"]}";
                    events.Publish("run", o);
                    break;
                case "step":
                case "layers":
                    events.Publish(type, o);
                    break;
                case "epoch":
                    epochs++;
                    bool validation = o["validation_accuracy"] is not null;
                    var held = new JsonObject
                    {
                        ["epoch"] = o["epoch"]?.DeepClone(),
                        ["epochs"] = o["epochs"]?.DeepClone(),
                        ["steps"] = o["steps"]?.DeepClone(),
                        ["train_loss"] = o["train_loss"]?.DeepClone(),
                        ["train_accuracy"] = o["train_accuracy"]?.DeepClone(),
                        ["held_out"] = validation ? "validation" : o["test_accuracy"] is null ? null : "test",
                        ["held_loss"] = (validation ? o["validation_loss"] : o["test_loss"])?.DeepClone(),
                        ["held_accuracy"] = (validation ? o["validation_accuracy"] : o["test_accuracy"])?.DeepClone(),
                        ["seconds"] = o["seconds"]?.DeepClone(),
                        ["samples_per_second"] = o["samples_per_second"]?.DeepClone(),
                    };
                    events.Publish("epoch", held);
                    break;
                case "end":
                    if (o["diverged"]?.GetValueKind() == JsonValueKind.True)
                        events.Publish("guard", new JsonObject { ["divergence"] = o["divergence"]?.DeepClone() ?? o["stop_reason"]?.DeepClone(), ["last_checkpoint"] = o["last_checkpoint"]?.DeepClone() });
                    o["checkpoint"] = o["last_checkpoint"]?.DeepClone();
                    events.Publish("done", o);
                    break;
            }
        }
        if (!started) throw new FileFormatException(path, -1, "no 'start' object: not a JSON Lines training log (training writes one as its JSON output)");
        return $"training log with {epochs} epoch(s)";
    }

    private static string LoadCheckpoint(string path, LiveEventLog events)
    {
        var header = CheckpointFile.ReadHeader(path);
        var t = header.Training;
        var o = t.Options;
        bool wide = header.Model.Precision == "float64";
        long parameters = wide ? Trainer<double>.Resume(path).Network.ParameterCount : Trainer<float>.Resume(path).Network.ParameterCount;
        byte[]? kernels = wide ? ModelPictures.KernelsPng(Trainer<double>.Resume(path).Network) : ModelPictures.KernelsPng(Trainer<float>.Resume(path).Network);
        events.Publish("run", new
        {
            live = false,
            source = Path.GetFileName(path),
            model = "checkpoint",
            spec = header.Model.Spec,
            parameters,
            settings = $"{o.Epochs} epoch(s), batch {o.BatchSize}, {o.Optimizer} lr {t.LearningRate:G4}, seed {o.Seed}; saved at step {t.Steps}, epoch {t.Epoch}, sample {t.Position} of {t.DataCount}",
        });
        if (t.Seen > 0)
            events.Publish("step", new { step = t.Steps, epoch = t.Epoch, loss = LiveEventLog.Finite(t.LossSum / t.Seen), accuracy = (double)t.Correct / t.Seen });
        if (kernels is not null)
            events.Publish("pictures", new { step = t.Steps, kernels = "data:image/png;base64," + Convert.ToBase64String(kernels) });
        events.Publish("done", new { stop_reason = $"checkpoint at step {t.Steps} (epoch {t.Epoch}, sample {t.Position} of {t.DataCount}); a checkpoint records no finished epochs", steps = t.Steps, checkpoint = path });
        return $"checkpoint at step {t.Steps}";
    }
}
