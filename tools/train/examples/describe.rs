//! Print the graph of an exported model: `describe MODEL.onnx`, or
//! `describe --fresh lenet5|resnet8|vgg` to export an untrained one first.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bytes = match args.as_slice() {
        [flag, arch] if flag == "--fresh" => {
            let arch = edgerun_train::Arch::parse(arch).ok_or("unknown model")?;
            let net = edgerun_train::Net::new(arch, 10, &edgerun_train::device());
            edgerun_train::export::export_onnx_bytes(&net)?
        }
        [path] => std::fs::read(path)?,
        _ => return Err("usage: describe MODEL.onnx | describe --fresh MODEL".into()),
    };
    print!("{}", edgerun_train::export::describe(&bytes)?);
    Ok(())
}
