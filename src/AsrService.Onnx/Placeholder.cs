namespace AsrService.Onnx;
