"""`flask …` commands."""
import click
from flask import current_app
from flask.cli import with_appcontext

from app.extensions import db


def print_accounts(rows):
    click.echo("")
    click.echo("演示账号（demo accounts）— 密码均为 / password for all: " + rows[0][3] if rows else "")
    click.echo(f"{'级别':<10}{'机构':<24}用户名")
    for level, unit, username, _ in rows:
        click.echo(f"{level:<10}{unit:<24}{username}")
    click.echo("其余账号：city_<区划代码>、county_<区划代码>、school_<学校标识码>，密码相同。")
    click.echo("")


def setup_database(app=None):
    """Apply migrations and create role rows. Safe to run at every start."""
    from flask_migrate import upgrade
    from app.services.setup import ensure_roles
    upgrade()
    ensure_roles(db.session)
    db.session.commit()


def register(app):
    @app.cli.command("setup")
    @with_appcontext
    def setup_cmd():
        """升级数据库并初始化角色。"""
        setup_database()
        click.echo("数据库已就绪")

    @app.cli.command("demo")
    @click.option("--province", default="360000", help="省级行政区划代码（默认 360000 江西）")
    @click.option("--schools-per-county", default=3, type=int)
    @click.option("--students", default=0, type=click.IntRange(min=0),
                  help="另外生成的在校学生人数（每次执行都再新增这么多；默认 0）")
    @with_appcontext
    def demo_cmd(province, schools_per_county, students):
        """建立演示省份（可重复执行）。"""
        from app.services import demo
        setup_database()
        units, users = demo.load_demo(db.session, province, schools_per_county)
        click.echo(f"新增机构 {units} 个，新增账号 {users} 个")
        if students:
            from app.services.demo_students import generate_students
            step = max(students // 10, 1)
            shown = [0]

            def progress(done, total):
                if done - shown[0] >= step or done == total:
                    shown[0] = done
                    click.echo(f"  学生 {done}/{total}")
            result = generate_students(db.session, students, province, progress=progress)
            db.session.commit()
            click.echo(f"新增在校学生 {result['students']} 名（含监护人与学籍历史），用时 {result['seconds']:.1f} 秒，"
                       f"每秒 {result['students'] / max(result['seconds'], 1e-9):,.0f} 名（{result['method']}）")
        print_accounts(demo.sample_accounts(db.session, province))

    @app.cli.command("load-regions")
    @with_appcontext
    def regions_cmd():
        """载入/更新全国行政区划（省、市、县三级）。"""
        from app.codes.regions import load_regions, source_metadata
        added, changed = load_regions(db.session)
        db.session.commit()
        meta = source_metadata()
        click.echo(f"行政区划：新增 {added}，更名 {changed}（数据截至 {meta['data_as_of']}）")
