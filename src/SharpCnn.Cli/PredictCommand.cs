using System.CommandLine;
using SharpCnn.Data;

namespace SharpCnn.Cli;

/// <summary><c>sharpcnn predict MODEL IMAGE...</c>: classifies PNG images with a saved model and prints the top classes.</summary>
internal static class PredictCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("model") { Description = "A model file saved by 'sharpcnn train --output'", HelpName = "MODEL" };
        var images = new Argument<string[]>("images")
        {
            Description = "PNG files (grey, RGB, palette, grey+alpha or RGBA; 1-16 bits; not interlaced)",
            HelpName = "IMAGE",
            Arity = ArgumentArity.OneOrMore,
        };
        var invert = new Option<bool>("--invert", "-i") { Description = "Invert the grey levels first: for dark digits on light paper (MNIST digits are light on black)" };
        var top = new Option<int>("--top", "-k") { Description = "How many classes to show per image, most probable first", DefaultValueFactory = _ => 3, HelpName = "N" };
        var precision = CommonOptions.Precision();
        var json = CommonOptions.Json("Write one JSON object per image (file, class, probability, top) instead of text");
        var command = new Command("predict",
            "Classify PNG images with a saved model. Each image is converted to grey (luma 0.299 R + 0.587 G + 0.114 B, transparency over white), " +
            "resized to the model's input (area averaging when shrinking, bilinear when enlarging), optionally inverted, scaled to pixel/255 like the training data, " +
            "and the most probable classes are printed with their probabilities.")
        {
            file, images, invert, top, precision, json,
        };
        command.SetAction(r => CommandErrors.Run(r.InvocationConfiguration.Error, () =>
        {
            int k = r.GetValue(top);
            if (k < 1) throw new ArgumentException($"--top must be at least 1, not {k}");
            var run = new Run(r.GetValue(file)!, r.GetValue(images)!, r.GetValue(invert), k, r.GetValue(json), r.InvocationConfiguration.Output, r.InvocationConfiguration.Error);
            return PrecisionOption.Dispatch(r.GetValue(precision)!, run);
        }));
        return command;
    }

    private sealed record Run(string ModelFile, string[] Images, bool Invert, int Top, bool Json, TextWriter Output, TextWriter Error) : IPrecisionAction
    {
        public int Invoke<T>() where T : unmanaged, IFloatingPointIeee754<T>
        {
            var model = Classifier.Load<T>(ModelFile);
            if (model.InputShape.Channels != 1)
                throw new ArgumentException($"{ModelFile} takes {model.InputShape} inputs; predict feeds it grey images, which have one channel");
            if (!Json) Output.WriteLine($"model {ModelFile}: {model.Spec} (input {model.InputShape}, {model.Classes} classes){(Invert ? "; images inverted" : "")}");
            int width = Images.Max(i => i.Length);
            int failed = 0;
            foreach (string path in Images)
            {
                Prediction prediction;
                try
                {
                    var image = GreyImage.Load(path);
                    prediction = model.Predict(Invert ? image.Invert() : image);
                }
                catch (Exception e) when (CommandErrors.IsUserError(e))
                {
                    failed++;
                    if (Json) Terminal.WriteJsonLine(Output, new { File = path, Error = e.Message });
                    Error.WriteLine($"error: {e.Message}");
                    continue;
                }
                var best = prediction.Top(Top);
                if (Json)
                {
                    Terminal.WriteJsonLine(Output, new
                    {
                        File = path,
                        prediction.Class,
                        prediction.Probability,
                        Top = best.Select(b => new { b.Class, b.Probability }),
                    });
                    continue;
                }
                string others = best.Count > 1 ? "   then " + string.Join(", ", best.Skip(1).Select(b => $"{b.Class} ({b.Probability:P2})")) : "";
                Output.WriteLine($"{path.PadRight(width)}  {prediction.Class}  ({prediction.Probability:P2}){others}");
            }
            Output.Flush();
            return failed == 0 ? 0 : CommandErrors.UserError;
        }
    }
}
